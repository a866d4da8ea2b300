"""Meter values end to end over real WebSockets against the CSMS emulator: the clock-aligned values of the
transaction's end message (2.0.1 AlignedDataCtrlr.TxEndedMeasurands / TxEndedInterval, 1.6 StopTxnAlignedData) and
the physical coherence of what an emulated direct-DC car reports (P = V * I, energy integrates power, SoC follows
energy). Measurands and intervals are set the way a CSMS would (SetVariables / ChangeConfiguration)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from test_v16_session import CP
from test_v16_session import Bench as Bench16
from test_v16_session import bench as bench16
from test_v201_session import bench as bench201

from chargepoint.clock import RealClock, parse_iso
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.auth import Authorizer
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from hil.emulators.csms import CsmsEmulator
from hil.emulators.direct_dc import DirectDcPort, EvProfile

pytestmark = pytest.mark.timeout(30)

ENERGY = "Energy.Active.Import.Register"


def stamp(mv: dict[str, Any]) -> datetime:
    return parse_iso(mv["timestamp"])


def values(mv: dict[str, Any]) -> dict[str, float]:
    return {v.get("measurand", ENERGY): float(v["value"]) for v in mv["sampledValue"]}


def contexts(mv: dict[str, Any]) -> set[str]:
    return {v.get("context", "Sample.Periodic") for v in mv["sampledValue"]}


# ---------------------------------------------------------------------- clock-aligned values at the end
async def test_TC_J_03_CS_clock_aligned_meter_values_in_transaction_event_ended() -> None:
    async with bench201() as b:  # AlignedDataCtrlr.Interval = 0: no clock-aligned values during the transaction
        assert await b.set("AlignedDataCtrlr", "TxEndedMeasurands", ENERGY) == "Accepted"
        assert await b.set("AlignedDataCtrlr", "TxEndedInterval", "1") == "Accepted"
        assert (await b.get("AlignedDataCtrlr", "TxEndedInterval"))["attributeValue"] == "1"
        mark = b.mark()
        await b.charge()
        started = await b.wait_event("Started", mark)
        await asyncio.sleep(2.6)  # the transaction has to span a few clock-aligned boundaries
        b.ports[1].unplug()
        ended = await b.wait_event("Ended", mark)
        meter = ended.payload["meterValue"]
        clock = [mv for mv in meter if contexts(mv) == {"Sample.Clock"}]
        assert len(clock) >= 2 and meter[-1] not in clock and contexts(meter[-1]) == {"Transaction.End"}
        assert all(list(values(mv)) == [ENERGY] for mv in clock)
        stamps = [stamp(mv) for mv in clock]
        assert all(s.microsecond == 0 for s in stamps)  # on the boundaries of TxEndedInterval
        assert all((y - x).total_seconds() == 1 for x, y in itertools.pairwise(stamps))
        assert parse_iso(started.payload["timestamp"]) <= stamps[0] and stamps[-1] <= stamp(meter[-1])
        readings = [values(mv)[ENERGY] for mv in [*clock, meter[-1]]]
        assert readings == sorted(readings) and readings[-1] > readings[0]  # the car was charging all along
        # nothing clock-aligned was sent during the transaction (AlignedDataCtrlr.Interval is 0)
        assert [p for p in b.sent("TransactionEvent", mark) if p["triggerReason"] == "MeterValueClock"] == []


async def test_v16_stop_txn_aligned_data_in_stop_transaction() -> None:
    async with bench16() as b:
        await b.configure("ClockAlignedDataInterval", "1")
        await b.configure("MeterValuesAlignedData", "Voltage")
        await b.configure("StopTxnAlignedData", ENERGY)
        tx_id = await b.remote_session()
        await asyncio.sleep(2.6)  # spans a few clock-aligned boundaries
        mark = b.mark()
        b.ports[1].unplug()
        stop = await b.wait("StopTransaction", None, mark)
        data = stop.payload["transactionData"]
        clock = [mv for mv in data if contexts(mv) == {"Sample.Clock"}]
        assert stop.payload["transactionId"] == tx_id and len(clock) >= 2
        assert all(list(values(mv)) == [ENERGY] and stamp(mv).microsecond == 0 for mv in clock)
        # the clock-aligned MeterValues during the transaction carry MeterValuesAlignedData, not StopTxnAlignedData
        during = [mv for p in b.sent("MeterValues") if p.get("transactionId") == tx_id for mv in p["meterValue"]]
        assert during and all(list(values(mv)) == ["Voltage"] for mv in during)


# ---------------------------------------------------------------------- physical coherence
@contextlib.asynccontextmanager
async def small_battery_bench(capacity_wh: float) -> AsyncIterator[Bench16]:
    """The 1.6 rig with a small battery, so that a few seconds of charging move the SoC measurably."""
    async with CsmsEmulator(protocols=("ocpp1.6",)) as csms:
        port = DirectDcPort(profile=EvProfile(capacity_wh=capacity_wh), soc=40.0, handshake_s=0.2, stop_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(aligned_interval_s=0), Authorizer())
        transport = TransportConfig(url=csms.url, station_id=CP, protocols=("ocpp1.6",), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=5, default_retry_s=1)
        task = asyncio.create_task(session.run())
        b = Bench16(csms, station, {1: port}, session)
        try:
            await session.wait_accepted(5)
            await b.wait_status(1, "Available")
            yield b
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


async def test_meter_values_are_physically_coherent_end_to_end() -> None:
    capacity_wh = 5_000.0
    async with small_battery_bench(capacity_wh) as b:
        await b.configure("MeterValuesSampledData",
                          "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC")
        await b.configure("MeterValueSampleInterval", "1")
        tx_id = await b.remote_session()
        after = b.mark()
        samples: list[tuple[datetime, dict[str, float]]] = []
        while len(samples) < 7:
            f = await b.wait("MeterValues", lambda p: p.get("transactionId") == tx_id, after)
            after = f.index
            samples += [(stamp(mv), values(mv)) for mv in f.payload["meterValue"]]
        b.ports[1].unplug()
        for _, v in samples:
            assert set(v) == {ENERGY, "Power.Active.Import", "Current.Import", "Voltage", "SoC"}
            assert v["Power.Active.Import"] == pytest.approx(v["Voltage"] * v["Current.Import"], rel=0.03, abs=5)
        assert samples[-1][1]["Power.Active.Import"] > 10_000  # really charging, not a trivial 0 = 0 * 0
        for (t0, v0), (t1, v1) in itertools.pairwise(samples):
            dt_h = (t1 - t0).total_seconds() / 3600
            integral = (v0["Power.Active.Import"] + v1["Power.Active.Import"]) / 2 * dt_h  # trapezoid, Wh
            delta = v1[ENERGY] - v0[ENERGY]
            assert delta == pytest.approx(integral, rel=0.08, abs=0.5), (t0, t1)
        (_, first), (_, last) = samples[0], samples[-1]
        delivered_wh = last[ENERGY] - first[ENERGY]
        assert delivered_wh > 20
        assert last["SoC"] - first["SoC"] == pytest.approx(delivered_wh / capacity_wh * 100, rel=0.1)
