"""``hil`` command line: the test-bench side.

``hil csms`` runs the CSMS emulator standalone (a bundled central system for newcomers who have none).
Exit codes: 0 clean exit, 1 internal error, 2 bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from chargepoint.logs import setup_logging

log = logging.getLogger("hil.cli")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hil", description="Hardware-in-the-loop test bench for the charge point.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("csms", help="run the CSMS emulator (OCPP 1.6 / 2.0.1 / 2.1) until interrupted")
    c.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    c.add_argument("--port", type=int, default=9000, help="listen port (default 9000, 0 = any free port)")
    c.add_argument("--ocpp", action="append", choices=["1.6", "2.0.1", "2.1"],
                   help="accepted OCPP version, repeatable, preferred first (default: all)")
    c.add_argument("--duration", type=float, help="exit after this many seconds")
    c.add_argument("--log-format", choices=("text", "json"), default="text")
    return p


async def _run_csms(args: argparse.Namespace) -> int:
    from hil.emulators.csms import CsmsEmulator

    versions = args.ocpp or ["2.1", "2.0.1", "1.6"]
    emulator = CsmsEmulator(host=args.host, port=args.port, protocols=tuple(f"ocpp{v}" for v in versions),
                            max_frames=100_000)
    await emulator.start()
    log.info("CSMS emulator listening", extra={"fields": {"url": emulator.url, "protocols": ",".join(versions)}})
    print(emulator.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.duration)
    await emulator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format)
    try:
        if args.command == "csms":
            return asyncio.run(_run_csms(args))
    except KeyboardInterrupt:
        return 0
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
