"""Setpoint latency: from the station receiving a SetChargingProfile frame to the first effect of it.

The station is assembled the way ``chargepoint run`` assembles it (``chargepoint.app.build_station`` /
``build_session``): the CHAdeMO connector (``ChademoPort`` on a python-can ``virtual`` bus, emulated DC link and
an emulated LEAF 40 kWh on its own endpoint of the same bus), the energy manager, the OCPP 2.1 session (100 ms
station tick unless ``--tick``) against the CSMS emulator over real websockets on loopback. Real time throughout.

Once the car discharges, each trial replaces the same TxProfile (CentralSetpoint), alternating between two discharge
setpoints far enough apart to be two different currents on the wire, at a random phase of the 100 ms cycle. Three
time stamps per trial, all ``time.time()`` (the clock python-can stamps virtual-bus frames with):

* ``rx``: the station's websocket ``recv()`` returned the SetChargingProfile frame;
* ``port``: ``port.set_setpoint_w`` was called with the new value (the station's decision reached the connector);
* ``can``: the first 0x208 frame (EVSE discharge current, 208.1) on the bus after ``rx`` that carries the new current
  (within 1 A of setpoint / output voltage). 0x109 would carry it the same way while charging.

``can - rx`` includes the CHAdeMO cycle: the charger commands the power stage at its next step (the station tick)
and transmits its frames every 100 ms, reporting the current it measures, so the new current is on the bus one
cycle after the command at the earliest.

    .venv/bin/python -m benchmarks.setpoint_latency --trials 1000 [--tick 0.1] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import can

from chargepoint.app import build_session, build_station
from chargepoint.chademo.codec import decode
from chargepoint.chademo.connector import ChademoConnector
from chargepoint.chademo.frames import EvseDischargeCapability, EvseStatus
from chargepoint.clock import RealClock
from chargepoint.config import CsmsConfig, EvConfig, EvseConfig, MeteringConfig, StationConfig
from chargepoint.hardware.interfaces import PowerRatings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsEmulator

STATION = "BENCH-LAT"
RAMP_A_PER_S = 100.0  # the emulated power stage's slew (PowerRatings.ramp_a_per_s; the station default is 20)


def ratings(ramp_a_per_s: float) -> PowerRatings:
    return PowerRatings(max_charge_current_a=125, max_discharge_current_a=30, max_discharge_power_w=10_000,
                        ramp_a_per_s=ramp_a_per_s)
SETPOINTS = (-2000.0, -4000.0)


@dataclass
class Stamps:
    rx: list[float] = field(default_factory=list)
    port: list[tuple[float, float]] = field(default_factory=list)  # (time, watts) of every change
    frames: list[tuple[float, float, float]] = field(default_factory=list)  # (time, discharge A, volts)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _TimedConnection:
    """The station's websocket, with the time each SetChargingProfile frame came out of ``recv()``."""

    def __init__(self, ws: Any, stamps: Stamps) -> None:
        self.ws, self.stamps = ws, stamps

    async def recv(self) -> Any:
        text = await self.ws.recv()
        if '"SetChargingProfile"' in text:
            self.stamps.rx.append(time.time())
        return text

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ws, name)


class _BusListener(can.Listener):
    """A third endpoint of the connector's virtual bus: keeps 0x208 currents with the latest 0x109 voltage."""

    def __init__(self, stamps: Stamps) -> None:
        self.stamps = stamps
        self.volts = 0.0

    def on_message_received(self, msg: can.Message) -> None:
        try:
            frame = decode(msg.arbitration_id, bytes(msg.data))
        except ValueError:
            return
        if isinstance(frame, EvseStatus):
            self.volts = frame.output_voltage_v
        elif isinstance(frame, EvseDischargeCapability):
            with self.stamps.lock:
                self.stamps.frames.append((msg.timestamp, frame.discharge_current_a, self.volts))


def _wrap_setpoint(port: ChademoConnector, stamps: Stamps) -> None:
    original: Callable[[float], None] = port.set_setpoint_w
    last = [float("nan")]

    def timed(watts: float) -> None:
        original(watts)
        if watts != last[0]:
            last[0] = watts
            stamps.port.append((time.time(), watts))

    port.set_setpoint_w = timed  # type: ignore[method-assign]


def _profile(tx_id: str, watts: float) -> dict[str, Any]:
    period = {"startPeriod": 0, "setpoint": watts, "operationMode": "CentralSetpoint"}
    return {"id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "transactionId": tx_id,
            "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "chargingSchedulePeriod": [period]}]}


async def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while (found := check()) is None or found is False:
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.002)  # polling a shared list: the benchmark's own loop, not a synchronisation
    return found


async def run(trials: int, tick_s: float, ramp_a_per_s: float = RAMP_A_PER_S
              ) -> tuple[list[float], list[float], list[float]]:
    stamps = Stamps()
    async with CsmsEmulator(protocols=("ocpp2.1",), max_frames=2000) as csms:
        cfg = StationConfig(id=STATION, data_dir=None, csms=CsmsConfig(ocpp=("2.1",), backoff_initial_s=0.2),
                            evses=[EvseConfig(1, protocol="chademo", ratings=ratings(ramp_a_per_s),
                                              ev=EvConfig("leaf40", 70.0))],
                            metering=MeteringConfig(sample_interval_s=10, aligned_interval_s=0))
        assembly = build_station(cfg, RealClock())
        port = assembly.ports[1]
        assert isinstance(port, ChademoConnector)
        _wrap_setpoint(port, stamps)
        session = build_session(cfg, assembly.station, csms.url)
        session.tick_s = tick_s
        listener_bus = can.Bus(interface="virtual", channel=f"{STATION}-evse1")
        notifier = can.Notifier(listener_bus, [_BusListener(stamps)], timeout=0.01)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(10)
            session.adapter._connection = _TimedConnection(session.adapter._connection, stamps)
            port.plug_in()
            assembly.station.present_token(1, IdToken("BENCH"))
            started = await csms.wait_for(STATION, "TransactionEvent", lambda p: p["eventType"] == "Started",
                                          timeout=10)
            tx_id = started.payload["transactionInfo"]["transactionId"]
            await _until(lambda: port.port.state().meter.current_a > 5 or None, 60, "energy transfer")
            await csms.call(STATION, "SetChargingProfile", {"evseId": 1, "chargingProfile": _profile(tx_id, -3000)})
            await _until(lambda: port.port.state().meter.current_a < -2 or None, 30, "discharge")
            # the car's 0x200 discharge limit ramps up first: start once it allows both setpoints
            await _until(lambda: (port.port.state().ev_max_discharge_current_a or 0) >= 14 or None, 30, "0x200")
            software, response, wire = [], [], []
            rng = random.Random(1)
            for n in range(trials):
                watts = SETPOINTS[n % 2]
                # a random phase against the 100 ms CHAdeMO cycle (otherwise every trial would start right after a
                # frame, i.e. at the same point of the cycle)
                await asyncio.sleep(rng.uniform(0.0, 0.1))
                res = await csms.call(STATION, "SetChargingProfile",
                                      {"evseId": 1, "chargingProfile": _profile(tx_id, watts)})
                assert res["status"] == "Accepted", res
                rx = stamps.rx[-1]
                t_port, applied = next((t, w) for t, w in stamps.port if t >= rx)  # the arbitrated value
                software.append(t_port - rx)

                def frame_after(rx: float = rx, applied: float = applied) -> float | None:
                    with stamps.lock:
                        for t, amps, volts in stamps.frames:
                            if t >= rx and volts > 0 and abs(amps - abs(applied) / volts) <= 1.0:
                                return t
                    return None

                def first_response(rx: float = rx, applied: float = applied) -> float | None:
                    """The first 0x208 after rx whose current moved >= 1 A towards the new value (the charger
                    started to follow; the rest is the power stage's ramp)."""
                    with stamps.lock:
                        before = [a for t, a, _v in stamps.frames if t < rx]
                        if not before:
                            return None
                        start = before[-1]
                        for t, amps, volts in stamps.frames:
                            if t >= rx and volts > 0:
                                target = abs(applied) / volts
                                if abs(amps - start) >= 1.0 and (amps - start) * (target - start) > 0:
                                    return t
                    return None

                settled = await _until(frame_after, 5, f"CAN frame for trial {n}")
                first = first_response()
                wire.append(settled - rx)
                response.append((first if first is not None else settled) - rx)
                with stamps.lock:
                    del stamps.frames[:-1]  # keep the last frame: the next trial's "before" value
        finally:
            session.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            notifier.stop()
            listener_bus.shutdown()
            port.close()
    return software, response, wire


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--tick", type=float, default=0.1, help="station tick in seconds (the app's default: 0.1)")
    parser.add_argument("--ramp", type=float, default=RAMP_A_PER_S,
                        help=f"power stage slew in A/s (default {RAMP_A_PER_S:g}; the station's default rating is 20)")
    parser.add_argument("--markdown", action="store_true", help="print a table row for docs/benchmarks.md")
    args = parser.parse_args()
    software, response, wire = asyncio.run(run(args.trials, args.tick, args.ramp))
    print(f"python {platform.python_version()}, {args.trials} trials, station tick {args.tick * 1000:.0f} ms, "
          f"power stage {args.ramp:g} A/s")
    for name, xs in (("frame received -> port.set_setpoint_w", software),
                     ("frame received -> first CAN 0x208 following it", response),
                     ("frame received -> CAN 0x208 at the new current (+-1 A)", wire)):
        ms = [x * 1000 for x in xs]
        print(f"{name}: p50 {pct(ms, 50):.1f} ms, p90 {pct(ms, 90):.1f} ms, p99 {pct(ms, 99):.1f} ms, "
              f"max {max(ms):.1f} ms, mean {statistics.fmean(ms):.1f} ms")
        if args.markdown:
            print(f"| {args.tick * 1000:.0f} ms | {args.ramp:g} A/s | {name} | {args.trials} | {pct(ms, 50):.1f} | "
                  f"{pct(ms, 99):.1f} | {max(ms):.1f} |")


if __name__ == "__main__":
    main()
