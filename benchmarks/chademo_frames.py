"""How many CAN frames per second the CHAdeMO charger + car pair processes in virtual time.

Each frame is encoded by its sender (struct codec), decoded by its receiver, and both sans-I/O state machines and
the DC-link physics are stepped every tick. The scenario is a whole V2H session: start (handshake, lock,
insulation test, contactors), charging, discharging, charging again, stop, teardown - repeated until the requested
virtual time has elapsed. Also reports the bare codec round trip (encode + decode) rate.

    .venv/bin/python benchmarks/chademo_frames.py [--virtual-s 1200] [--tick-s 0.01] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time

from chargepoint.chademo.codec import EvStatus, decode, encode
from hil.emulators.chademo_pair import ChademoPair


def run_sessions(virtual_s: float, tick_s: float) -> tuple[int, float, float, int]:
    """Run back-to-back sessions for ``virtual_s``; return (frames, wall seconds, virtual seconds, sessions)."""
    frames = 0
    wall = 0.0
    simulated = 0.0
    sessions = 0
    seed = 0
    while simulated < virtual_s:
        pair = ChademoPair.create("leaf40-ze1", soc=50.0, seed=seed, tick_s=tick_s)
        seed += 1
        t0 = time.perf_counter()
        pair.start()
        pair.run(30.0)  # start-up + charging
        pair.charger.set_setpoint_w(-5000.0)
        pair.run(30.0)  # discharging
        pair.charger.set_setpoint_w(20_000.0)
        pair.run(20.0)  # charging again
        pair.charger.request_stop()
        pair.run(8.0)  # stop, welding detection, unlock, CAN tail
        wall += time.perf_counter() - t0
        simulated += pair.now
        frames += pair.frames_total
        sessions += 1
        assert pair.charger.phase.value == "finished" and not pair.charger.is_fault
    return frames, wall, simulated, sessions


def codec_rate(n: int = 200_000) -> float:
    frame = EvStatus(2, 410.0, 87.0, charging_enabled=True, contactor_open=False, soc_percent=55)
    t0 = time.perf_counter()
    for _ in range(n):
        raw = encode(frame)
        decode(raw.arbitration_id, raw.data)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--virtual-s", type=float, default=1200.0, help="virtual seconds per repeat")
    ap.add_argument("--tick-s", type=float, default=0.01, help="bench tick (state machines stepped each tick)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}")
    best = None
    for _ in range(args.repeat):
        frames, wall, simulated, sessions = run_sessions(args.virtual_s, args.tick_s)
        rate = frames / wall
        print(
            f"  {sessions} sessions, {simulated:.0f} s virtual, {frames} frames in {wall:.2f} s wall: "
            f"{rate:,.0f} frames/s, {simulated / wall:,.0f}x real time"
        )
        if best is None or rate > best[0]:
            best = (rate, simulated / wall)
    assert best is not None
    print(f"pair (tick {args.tick_s * 1000:.0f} ms): best {best[0]:,.0f} frames/s, {best[1]:,.0f}x real time")
    print(f"codec encode+decode round trip (0x102): {codec_rate():,.0f} frames/s")


if __name__ == "__main__":
    main()
