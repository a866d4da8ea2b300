"""The station with a CHAdeMO connector: charger state machine <-> emulated LEAF over real python-can frames.

Virtual bus (in-process, virtual time) for the whole session incl. a V2H discharge through the energy manager;
and the serial path: the charger on ``slcan`` through a pseudo-terminal, an slcan adapter emulator bridging to the
car's virtual bus.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from chargepoint.app import build_chademo
from chargepoint.clock import VirtualClock
from chargepoint.config import EvConfig, EvseConfig
from chargepoint.energy.manager import EnergyManager
from chargepoint.energy.ocpp_codec import from_ocpp
from chargepoint.energy.profiles import ProfileStore
from chargepoint.hardware.interfaces import PortPhase, PowerRatings
from chargepoint.station.actions import TransactionEnded, TransactionStarted
from chargepoint.station.core import Station
from chargepoint.station.types import AuthInfo, AuthStatus, IdToken, StopReason
from hil.emulators.slcan_adapter import SlcanAdapterEmulator

RATINGS = PowerRatings(max_charge_current_a=125, max_discharge_current_a=30, max_discharge_power_w=10_000)
_ids = itertools.count(1)


def discharge_profile(watts: float) -> dict[str, object]:
    period = {"startPeriod": 0, "setpoint": watts, "dischargeLimit": -20000, "limit": 50000,
              "operationMode": "CentralSetpoint"}
    return {"id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}]}


class Rig:
    def __init__(self, soc: float = 60.0, can: str = "virtual", clock: VirtualClock | None = None) -> None:
        self.clock = clock or VirtualClock(start=datetime(2026, 6, 1, 18, 0, tzinfo=UTC))
        cfg = EvseConfig(1, protocol="chademo", can=can, ratings=RATINGS, ev=EvConfig("leaf40", soc))
        self.port = build_chademo(cfg, f"T{next(_ids)}")
        self.station = Station({1: [self.port]}, self.clock)
        self.station.set_online(True)
        self.energy = EnergyManager(self.station, ProfileStore("2.1"), {1: RATINGS})
        self.actions: list[object] = []

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds * 10)):
            self.clock.advance(0.1)
            self.actions += self.station.tick()

    def run_until(self, check: object, timeout_s: float) -> bool:
        for _ in range(round(timeout_s * 10)):
            if check():  # type: ignore[operator]
                return True
            self.run(0.1)
        return bool(check())  # type: ignore[operator]

    def start_session(self) -> None:
        self.port.plug_in()
        self.station.present_token(1, IdToken("LEAF"))
        req = self.station.drain()[0]
        self.station.authorize_result(req.ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
        self.run(0.1)

    def state(self):  # type: ignore[no-untyped-def]
        return self.station.evses[1].connector.state

    def close(self) -> None:
        self.port.close()


def test_emulated_leaf_charges_then_discharges_over_can_frames() -> None:
    rig = Rig(soc=60)
    try:
        rig.start_session()
        assert rig.run_until(lambda: rig.state().phase == PortPhase.ENERGY and rig.state().meter.current_a > 20, 60)
        assert any(isinstance(a, TransactionStarted) for a in rig.actions)
        rig.run(5)
        st = rig.state()
        assert st.meter.current_a > 20 and st.meter.power_w > 5000
        assert st.soc_percent == pytest.approx(60, abs=2)  # SoC comes from 0x102
        assert st.details["protocol"] == 2
        bus = rig.port.bus
        assert bus is not None and bus.tx_frames > 100 and bus.rx_frames > 100 and bus.rx_dropped == 0
        import_before = st.meter.import_wh
        # V2H: the station's signed setpoint turns the flow around within CHAdeMO's limits
        rig.energy.store.add(from_ocpp(discharge_profile(-3000), "2.1", evse_id=1))
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a < -2, 30)
        rig.run(10)
        st = rig.state()
        assert st.meter.power_w == pytest.approx(-3000, rel=0.15)
        assert st.meter.export_wh > 0 and st.meter.import_wh >= import_before
        assert rig.energy.explain(1)["bound_by"] == "schedule.setpoint"
        # back to charging when the profile goes
        rig.energy.store.clear(7)
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a > 5, 30)
        # the session ends on a remote stop and the connector unlocks only at <= 10 V
        tx = rig.station.transactions()[0]
        rig.station.remote_stop(tx.tx_id)
        assert any(isinstance(a, TransactionEnded) and a.reason == StopReason.REMOTE
                   for a in rig.actions + rig.station.drain())
        assert rig.run_until(lambda: rig.state().phase == PortPhase.FINISHED, 30)
        assert rig.state().meter.voltage_v <= 10.0
        assert rig.port.unlock()
    finally:
        rig.close()


def test_discharge_request_beyond_the_cars_limit_is_capped_by_0x200() -> None:
    rig = Rig(soc=70)
    try:
        rig.start_session()
        assert rig.run_until(lambda: rig.state().phase == PortPhase.ENERGY, 60)
        rig.energy.store.add(from_ocpp(discharge_profile(-9000), "2.1", evse_id=1))
        rig.energy.reevaluate(1)
        assert rig.run_until(lambda: rig.state().meter.current_a < -2, 30)
        rig.run(10)
        st = rig.state()
        limit = st.ev_max_discharge_current_a
        assert limit is not None and limit > 0
        assert -st.meter.current_a <= limit + 0.5
        assert rig.energy.explain(1)["bound_by"].startswith("ev.")
    finally:
        rig.close()


def test_serial_path_slcan_through_a_pseudo_terminal() -> None:
    """Charger on slcan:/dev/pts/N (pyserial), adapter emulator bridging to the car's virtual bus. Real time."""
    from chargepoint.clock import RealClock

    channel = f"slcan-bridge-{next(_ids)}"
    with SlcanAdapterEmulator(channel=channel) as adapter:
        port = adapter.port
        cfg = EvseConfig(1, protocol="chademo", can=f"slcan:{port}", ratings=RATINGS, ev=None)
        # the car sits on the virtual side of the adapter
        from chargepoint.hardware.can import open_bus
        from hil.emulators.chademo_world import CarOnBus
        from hil.emulators.ev import EvEmulator

        connector = build_chademo(cfg, "SLCAN", bus_kwargs={"sleep_after_open": 0})
        assert connector.world is not None
        connector.world.car = CarOnBus(EvEmulator("leaf40-ze1", soc=55), open_bus(f"virtual:{channel}"))
        clock = RealClock()
        station = Station({1: [connector]}, clock)
        station.set_online(True)
        try:
            connector.plug_in()
            station.present_token(1, IdToken("SERIAL"))
            station.authorize_result(station.drain()[0].ref, AuthInfo(AuthStatus.ACCEPTED))  # type: ignore[attr-defined]
            deadline = time.monotonic() + 60
            next_tick = time.monotonic()
            while time.monotonic() < deadline:
                station.tick()
                st = station.evses[1].connector.state
                if st is not None and st.phase == PortPhase.ENERGY and st.meter.current_a > 10:
                    break
                next_tick += 0.1
                time.sleep(max(0.0, next_tick - time.monotonic()))
            st = station.evses[1].connector.state
            assert st is not None and st.phase == PortPhase.ENERGY and st.meter.current_a > 10
            assert connector.bus is not None and connector.bus.rx_frames > 50 and connector.bus.tx_frames > 50
            assert adapter.stats.frames_to_host > 50 and adapter.stats.frames_to_bus > 50
        finally:
            connector.close()
