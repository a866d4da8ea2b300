"""A CSMS discharge request down to the CHAdeMO frames, for OCPP 1.6, 2.0.1 and 2.1.

The station is assembled the way ``chargepoint run`` assembles it (``chargepoint.app.build_station`` /
``build_session``, 100 ms station tick): the CHAdeMO connector (``ChademoPort`` on a python-can ``virtual`` bus, the
emulated power stage) and an emulated LEAF 40 kWh on its own endpoint of the same bus, the energy manager, the
session against the CSMS emulator over real websockets on loopback. Real time throughout. A third endpoint of the
bus (:class:`BusLog`) records what the charger and the car put on the wire, time-stamped by python-can.

The discharge request is a TxProfile: 2.1 a CentralSetpoint ``setpoint`` (with a ``dischargeLimit``), 1.6 and 2.0.1
the legacy negative ``limit`` after the CSMS switched ``NegativeLimitPolicy`` to ``Discharge``.

What "the CHAdeMO frames carry the discharge within the next 100 ms cycle" means on the wire. The charger sends
its frames once per 100 ms cycle, 0x108, 0x109, 0x118, 0x208, 0x209 together. No 0x208 field is the setpoint itself:
208.0 is the discharge current the charger *measures* (208.1-2 / 208.3 are its ratings, 208.6-7 is derived from the
car's 200.4-5); the setpoint reaches the wire as the current the power stage delivers once commanded. The emulated
power stage slews (1000 A/s towards zero, 100 A/s away from it), so from a full-rate charge no frame could show
discharge one cycle later; the tests start from a 2 kW charge (a TxProfile the CSMS set first), which the power
stage can reverse within one cycle - but only if the command reached it at once, not at the next station tick.
So for the first 0x208 the charger sends after the station received the SetChargingProfile (t_rx = the station's
websocket ``recv()`` returned it):

* it is sent at most ``FIRST_FRAME_BOUND_S`` after t_rx: the next cycle (<= 100 ms), plus one more cycle of margin
  for a loaded CI machine (the CSMS sends right after a cycle's frames, so the next cycle is ~100 ms away and a
  late one means the station's loop was starved, not that the charger waited for something);
* its 208.0 already shows discharge (>= 1 A, at most the requested current), 109.3 shows no charge current, and
  the charge current the charger offers in the same cycle (108.3, which the charger derives from the setpoint under
  dynamic control) is 0.

Later 0x208 frames reach the requested current (setpoint / 109.1-2 voltage, +-1 A) and never exceed the car's 0x200
discharge limit (200.0). A request beyond that limit is honoured up to it: 208.0 settles at 200.0 (15 A), the meter
values show that export, GetCompositeSchedule reports it. Clearing the profile returns to charging.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import can
import pytest

from chargepoint.app import build_session, build_station
from chargepoint.chademo.codec import decode
from chargepoint.chademo.connector import ChademoConnector
from chargepoint.chademo.frames import EvDischargeLimits, EvseCapability, EvseDischargeCapability, EvseStatus
from chargepoint.clock import RealClock
from chargepoint.config import CsmsConfig, EvConfig, EvseConfig, MeteringConfig, StationConfig
from chargepoint.demo import enable_negative_limits
from chargepoint.energy.manager import EnergyManager
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.ocpp.session import StationSession
from chargepoint.station.core import Station
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsEmulator, Frame

pytestmark = pytest.mark.timeout(120)

RATINGS = PowerRatings(max_charge_current_a=125, max_discharge_current_a=30, max_discharge_power_w=10_000)
CAR_DISCHARGE_LIMIT_A = 15.0  # where the emulated LEAF 40's 200.0 ramp ends (hil/emulators/ev_profiles.py)
CYCLE_S = 0.1  # CHAdeMO: every charger frame once per 100 ms
FIRST_FRAME_BOUND_S = 2 * CYCLE_S  # the next cycle, plus one cycle of margin for a loaded machine
CHARGE_W = 2000.0
DISCHARGE_W = -3000.0
BEYOND_W = -9000.0  # ~24 A at the LEAF's ~380 V: beyond its 15 A 0x200 limit, within the charger's 30 A


# ---------------------------------------------------------------------------------------------------- the bus
@dataclass
class Cycle:
    """One cycle of the charger's frames (0x108, 0x109 and the 0x208 that closes it), with 0x208's time stamp."""

    t: float
    offered_a: float  # 108.3: the charge current the charger offers
    charge_a: float  # 109.3: measured charge current
    volts: float  # 109.1-2: measured output voltage
    discharge_a: float  # 208.0: measured discharge current

    @property
    def signed_a(self) -> float:
        return self.charge_a - self.discharge_a


@dataclass
class BusLog(can.Listener):
    """A third endpoint of the connector's virtual bus: the charger's cycles and the car's 0x200 limit."""

    cycles: list[Cycle] = field(default_factory=list)
    car_limits: list[tuple[float, float]] = field(default_factory=list)  # (time, 200.0)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _cap: EvseCapability | None = None
    _status: EvseStatus | None = None

    def on_message_received(self, msg: can.Message) -> None:
        try:
            frame = decode(msg.arbitration_id, bytes(msg.data))
        except ValueError:
            return
        with self.lock:
            if isinstance(frame, EvseCapability):
                self._cap = frame
            elif isinstance(frame, EvseStatus):
                self._status = frame
            elif isinstance(frame, EvDischargeLimits):
                self.car_limits.append((msg.timestamp, frame.max_discharge_current_a))
            elif isinstance(frame, EvseDischargeCapability) and self._cap is not None and self._status is not None:
                self.cycles.append(Cycle(msg.timestamp, self._cap.available_current_a, self._status.output_current_a,
                                         self._status.output_voltage_v, frame.discharge_current_a))

    def after(self, t: float) -> list[Cycle]:
        with self.lock:
            return [c for c in self.cycles if c.t >= t]

    def before(self, t: float) -> Cycle:
        with self.lock:
            return [c for c in self.cycles if c.t < t][-1]

    def car_limit(self) -> float:
        with self.lock:
            return self.car_limits[-1][1] if self.car_limits else 0.0

    def max_car_limit_since(self, t: float) -> float:
        """The highest 200.0 the car allowed from the last one before ``t`` on (what bounds a frame after ``t``)."""
        with self.lock:
            earlier = [a for ts, a in self.car_limits if ts < t][-1:]
            return max(earlier + [a for ts, a in self.car_limits if ts >= t])

    async def until(self, check: Callable[[list[Cycle]], Cycle | None], t: float, timeout: float, what: str) -> Cycle:
        """The cycle ``check`` picks among the cycles sent at or after ``t``; polls the log (python-can fills it on
        its own thread) until it does or ``timeout`` ends."""
        deadline = time.monotonic() + timeout
        while (found := check(self.after(t))) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no CHAdeMO cycle {what} within {timeout} s")
            await asyncio.sleep(0.002)
        return found

    async def next_cycle(self) -> Cycle:
        """Wait for the next cycle's frames (so a CALL sent now arrives early in a cycle)."""
        return await self.until(lambda cs: cs[0] if cs else None, time.time(), 2.0, "at all")


class _TimedConnection:
    """The station's websocket, with the time (python-can's clock: time.time()) each SetChargingProfile or
    ClearChargingProfile frame came out of ``recv()``."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.rx: dict[str, list[float]] = {"SetChargingProfile": [], "ClearChargingProfile": []}

    async def recv(self) -> Any:
        text = await self.ws.recv()
        for action, stamps in self.rx.items():
            if f'"{action}"' in text:
                stamps.append(time.time())
        return text

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)


# ---------------------------------------------------------------------------------------------------- the rig
@dataclass
class Rig:
    version: str  # "1.6", "2.0.1", "2.1"
    station_id: str
    csms: CsmsEmulator
    station: Station
    energy: EnergyManager
    port: ChademoConnector
    session: StationSession
    bus: BusLog
    wire: _TimedConnection
    tx_id: Any = None

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.csms.call(self.station_id, action, payload, timeout=5)

    async def charge(self) -> None:
        """Plug the LEAF in, present a token; return once current flows and the car allows discharge (0x200)."""
        mark = self.csms.mark()
        self.port.plug_in()
        self.station.present_token(1, IdToken("V2G-TAG"))
        if self.version == "1.6":
            start = await self.csms.wait_for(self.station_id, "StartTransaction", timeout=40, after=mark)
            answer = await self.csms.wait_frame(lambda f: f.direction == "tx" and f.unique_id == start.unique_id
                                                and f.message_type == 3, timeout=5, after=start.index)
            self.tx_id = answer.payload["transactionId"]
        else:
            start = await self.csms.wait_for(self.station_id, "TransactionEvent",
                                             lambda p: p["eventType"] == "Started", timeout=40, after=mark)
            self.tx_id = start.payload["transactionInfo"]["transactionId"]
        await self.bus.until(lambda cs: next((c for c in cs if c.charge_a >= 2), None), time.time(), 40, "charging")
        deadline = time.monotonic() + 20
        while self.bus.car_limit() < CAR_DISCHARGE_LIMIT_A:  # the car's 200.0 ramps 2 A per cycle once charging
            assert time.monotonic() < deadline, "the LEAF never allowed discharge (0x200)"
            await asyncio.sleep(0.05)

    async def set_tx_profile(self, watts: float) -> None:
        """Replace TxProfile 1 with ``watts`` (+ charge, - discharge), sent right after a cycle's frames."""
        period: dict[str, Any] = {"startPeriod": 0}
        if self.version == "2.1" and watts < 0:
            period |= {"setpoint": watts, "dischargeLimit": min(watts, -6000.0), "operationMode": "CentralSetpoint"}
        else:
            period |= {"limit": watts}
        if self.version == "1.6":
            action = {"connectorId": 1, "csChargingProfiles": {
                "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
                "chargingProfileKind": "Relative", "transactionId": self.tx_id,
                "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [period]}}}
        else:
            action = {"evseId": 1, "chargingProfile": {
                "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                "transactionId": self.tx_id,
                "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}]}}
        await self.bus.next_cycle()
        assert (await self.call("SetChargingProfile", action))["status"] == "Accepted"

    async def clear_tx_profile(self) -> None:
        await self.bus.next_cycle()
        body = {"id": 1} if self.version == "1.6" else {"chargingProfileId": 1}
        assert (await self.call("ClearChargingProfile", body))["status"] == "Accepted"

    def rx(self, action: str = "SetChargingProfile") -> float:
        return self.wire.rx[action][-1]

    async def composite_w(self) -> float:
        """GetCompositeSchedule's first period in W, signed (2.1: the setpoint, else the limit)."""
        if self.version == "1.6":
            res = await self.call("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"})
            return float(res["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"])
        res = await self.call("GetCompositeSchedule", {"evseId": 1, "duration": 60, "chargingRateUnit": "W"})
        assert res["status"] == "Accepted"
        first = res["schedule"]["chargingSchedulePeriod"][0]
        return float(first["setpoint"] if self.version == "2.1" else first["limit"])

    async def export_sample(self, pred: Callable[[float, float], bool], after: int, timeout: float = 10) -> Frame:
        """The first meter sample after ``after`` whose (Power.Active.Export, Voltage) pass ``pred``."""
        action = "MeterValues" if self.version == "1.6" else "TransactionEvent"

        def match(p: dict[str, Any]) -> bool:
            found = {s.get("measurand"): float(s["value"]) for mv in p.get("meterValue", [])
                     for s in mv["sampledValue"] if s.get("phase") is None}
            return "Power.Active.Export" in found and pred(found["Power.Active.Export"], found.get("Voltage", 0.0))

        return await self.csms.wait_for(self.station_id, action, match, timeout=timeout, after=after)

    def station_errors(self) -> list[str]:
        """CALLERRORs the CSMS sent: each one would mean the station sent something invalid."""
        return [f.raw for f in self.csms.frames if f.direction == "tx" and f.message_type == 4]


@contextlib.asynccontextmanager
async def rig(version: str) -> AsyncIterator[Rig]:
    station_id = f"CHA-V2G-{version}"
    protocol = f"ocpp{version}"
    async with CsmsEmulator(protocols=(protocol,), max_frames=5000) as csms:
        cfg = StationConfig(id=station_id, data_dir=None, csms=CsmsConfig(ocpp=(version,), backoff_initial_s=0.2),
                            evses=[EvseConfig(1, protocol="chademo", ratings=RATINGS, ev=EvConfig("leaf40", 60.0))],
                            metering=MeteringConfig(sample_interval_s=1, aligned_interval_s=0))
        assembly = build_station(cfg, RealClock())
        port = assembly.ports[1]
        assert isinstance(port, ChademoConnector)
        session = build_session(cfg, assembly.station, csms.url)
        assert session.tick_s == CYCLE_S  # the app's station tick: one CHAdeMO cycle
        bus = BusLog()
        listener = can.Bus(interface="virtual", channel=f"{station_id}-evse1")
        notifier = can.Notifier(listener, [bus], timeout=0.01)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            wire = _TimedConnection(session.adapter._connection)
            session.adapter._connection = wire
            yield Rig(version, station_id, csms, assembly.station, assembly.energy, port, session, bus, wire)
        finally:
            session.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            notifier.stop()
            listener.shutdown()
            port.close()


async def first_cycle_after(r: Rig, rx: float) -> Cycle:
    """The first cycle the charger sent after the station received the request, at most FIRST_FRAME_BOUND_S later."""
    cycle = await r.bus.until(lambda cs: cs[0] if cs else None, rx, 2.0, "after the request")
    assert cycle.t - rx <= FIRST_FRAME_BOUND_S, f"first 0x208 {1000 * (cycle.t - rx):.0f} ms after the request"
    return cycle


def settled_at(amps: float) -> Callable[[list[Cycle]], Cycle | None]:
    """A cycle whose 208.0 is within 1 A of ``amps`` (``amps`` may be a function of the cycle's voltage)."""
    return lambda cs: next((c for c in cs if c.volts > 0 and abs(c.discharge_a - amps) <= 1.0), None)


# ---------------------------------------------------------------------------------------------------- tests
async def discharge_through_the_chademo_frames(version: str) -> None:
    async with rig(version) as r:
        await enable_negative_limits(r.csms, r.station_id, version)  # 1.6 / 2.0.1; 2.1 needs no switch
        await r.charge()
        await r.set_tx_profile(CHARGE_W)
        charging = await r.bus.until(lambda cs: next((c for c in cs if c.volts > 0 and c.charge_a > 1
                                                      and abs(c.charge_a - CHARGE_W / c.volts) <= 1), None),
                                     r.rx(), 20, f"charging at {CHARGE_W} W")

        # 1. the discharge request: the first cycle after it already discharges
        mark = r.csms.mark()
        await r.set_tx_profile(DISCHARGE_W)
        rx = r.rx()
        assert r.bus.before(rx).charge_a > 0 and charging.t < rx
        first = await first_cycle_after(r, rx)
        target_a = -DISCHARGE_W / first.volts
        assert first.offered_a == 0  # 108.3: no charge current offered any more
        assert first.charge_a == 0 and 1 <= first.discharge_a <= target_a + 1  # 109.3 / 208.0: discharging
        settled = await r.bus.until(settled_at(target_a), rx, 5, f"at {target_a:.1f} A discharge")
        assert settled.t - rx < 2.0
        for c in r.bus.after(rx):
            assert c.discharge_a <= r.bus.max_car_limit_since(c.t)  # never beyond the car's 0x200 limit
        # 2.1: the setpoint; 1.6 / 2.0.1: the negative limit, read as a discharge limit
        assert r.energy.explain(1)["bound_by"] == ("schedule.setpoint" if version == "2.1" else
                                                   "schedule.discharge_limit")
        assert await r.composite_w() == pytest.approx(DISCHARGE_W)
        if version == "2.1":  # the operation mode changed with the profile (TC_K_101)
            await r.csms.wait_for(r.station_id, "TransactionEvent", lambda p: p["transactionInfo"].get(
                "operationMode") == "CentralSetpoint", after=mark)

        # 2. beyond the car's 0x200 limit: honoured up to it
        mark = r.csms.mark()
        await r.set_tx_profile(BEYOND_W)
        rx = r.rx()
        before = r.bus.before(rx)
        first = await first_cycle_after(r, rx)
        assert first.discharge_a >= before.discharge_a + 1  # moved towards the new request in the next cycle
        capped = await r.bus.until(settled_at(CAR_DISCHARGE_LIMIT_A), rx, 5, "at the car's 0x200 limit")
        for c in r.bus.after(rx):
            assert c.discharge_a <= r.bus.max_car_limit_since(c.t) == CAR_DISCHARGE_LIMIT_A
        why = r.energy.explain(1)
        assert why["bound_by"] == "ev.max_discharge_current"
        limit_w = -why["watts"]
        assert limit_w == pytest.approx(CAR_DISCHARGE_LIMIT_A * capped.volts, rel=0.03) and limit_w < -BEYOND_W
        assert await r.composite_w() == pytest.approx(-limit_w, rel=0.03)  # what the station does, not the 9 kW
        await r.export_sample(lambda w, v: v > 0 and abs(w - CAR_DISCHARGE_LIMIT_A * v) <= 0.03 * w, mark)

        # 3. clearing the profile returns to charging
        mark = r.csms.mark()
        await r.clear_tx_profile()
        rx = r.rx("ClearChargingProfile")
        before = r.bus.before(rx)
        first = await first_cycle_after(r, rx)
        assert first.offered_a > 0 and first.signed_a >= before.signed_a + 1
        await r.bus.until(lambda cs: next((c for c in cs if c.charge_a >= 2), None), rx, 20, "charging again")
        if version == "2.1":
            await r.csms.wait_for(r.station_id, "TransactionEvent", lambda p: p["transactionInfo"].get(
                "operationMode") == "ChargingOnly", after=mark)
        assert r.station_errors() == []


async def test_TC_K_101_CS_Q04_setpoint_discharges_in_the_next_chademo_cycle_capped_at_the_car_v21() -> None:
    await discharge_through_the_chademo_frames("2.1")


async def test_TC_K_60_CS_negative_limit_discharges_in_the_next_chademo_cycle_capped_at_the_car_v201() -> None:
    await discharge_through_the_chademo_frames("2.0.1")


async def test_TC_057_CS_negative_limit_discharges_in_the_next_chademo_cycle_capped_at_the_car_v16() -> None:
    await discharge_through_the_chademo_frames("1.6")
