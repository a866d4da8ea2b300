"""``chargepoint`` command line.

Exit codes:
  0  clean exit (``--duration`` elapsed, or interrupted with Ctrl-C / SIGTERM)
  1  unexpected internal error
  2  invalid command-line option or configuration file (the message names the key and the problem)
  3  ``--duration`` elapsed without the CSMS ever accepting the station (refused, unreachable, wrong version)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import signal
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from chargepoint import __version__
from chargepoint.app import build_session, build_station, open_store
from chargepoint.autogen import AutoSessions, AutoTiming
from chargepoint.clock import RealClock
from chargepoint.config import (
    OCPP_VERSIONS,
    ConfigError,
    EvConfig,
    StationConfig,
    check_io_spec,
    check_links,
    load_config,
)
from chargepoint.hardware.can import parse_bus_spec
from chargepoint.hardware.interfaces import PortPhase
from chargepoint.logs import setup_logging
from chargepoint.station.actions import Action, StatusChanged, TransactionEnded, TransactionStarted
from chargepoint.station.types import IdToken

log = logging.getLogger("chargepoint.cli")

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_NOT_ACCEPTED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chargepoint",
        description="Bidirectional CHAdeMO charge point: OCPP 1.6J / 2.0.1 / 2.1 towards a CSMS.",
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"chargepoint {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a station (without --csms: against the embedded CSMS emulator, with an emulated car)",
        description="Run one charge point. Without --csms (and no [csms] url in the config) it starts the embedded "
        "CSMS emulator on a free loopback port, plugs in the emulated car and runs an authorized session.",
    )
    run.add_argument("--config", metavar="FILE", help="station TOML file (see docs/configuration.md)")
    run.add_argument("--csms", metavar="URL", help="CSMS websocket URL (ws:// or wss://); the station id is appended")
    run.add_argument("--id", metavar="ID", help="charge point identity (overrides station.id)")
    run.add_argument("--ocpp", choices=list(OCPP_VERSIONS), help="OCPP version to offer (overrides csms.ocpp)")
    run.add_argument("--duration", metavar="SECONDS", type=_positive_float, help="exit 0 after this many seconds")
    run.add_argument("--log-format", choices=("text", "json"), help="log format (default text, or logging.format)")
    run.add_argument("--ev-soc", metavar="PERCENT", type=_percent, help="initial SoC of the emulated car(s)")
    run.add_argument("--ev", choices=("leaf24", "leaf40", "leaf62", "none"),
                     help="emulated car on every EVSE (default leaf40), or none when a real/external car is on the bus")
    run.add_argument("--can", metavar="SPEC",
                     help="CHAdeMO CAN bus: virtual[:CHANNEL] (default), socketcan:IFACE, slcan:PORT[@BITRATE]")
    run.add_argument("--io", metavar="SPEC",
                     help="control lines d1/d2/j/lock/contactor: emulated (default) or serial:PORT (docs/hardware.md)")
    run.add_argument("--protocol", choices=("chademo", "direct"),
                     help="connector link: chademo (default; real CHAdeMO frames) or direct (emulated DC path)")
    run.add_argument("--data-dir", metavar="DIR",
                     help="where transactions and queued messages persist (default ~/.local/state/chargepoint; "
                     "'none' = persist nothing)")
    run.add_argument("--no-grid-demo", action="store_true",
                     help="embedded default only: the CSMS emulator does not ask for a discharge")
    run.add_argument("--grid-demo-after", metavar="SECONDS", type=_positive_float, default=20.0,
                     help="embedded default: seconds of charging before the CSMS emulator asks for a discharge "
                     "(default 20)")
    run.add_argument("--auto-sessions", metavar="N", nargs="?", type=_count, const=-1,
                     help="generate transactions on every EVSE with an emulated car: plug in, present its token, "
                     "charge for a random time, stop by unplugging or by the same token, wait, repeat; stop after N "
                     "transactions (then stay idle), without N never; survives restarts")
    run.add_argument("--seed", type=int, default=0, help="random seed of --auto-sessions (default 0)")
    run.add_argument("--auto-charge", metavar="MIN[:MAX]", type=_span, default=(20.0, 120.0),
                     help="seconds an --auto-sessions transaction lasts (default 20:120)")
    run.add_argument("--auto-idle", metavar="MIN[:MAX]", type=_span, default=(5.0, 30.0),
                     help="seconds an EVSE stays free between two --auto-sessions cars (default 5:30)")
    run.add_argument("--no-status", action="store_true", help="no live status line even on a terminal")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging, including every OCPP frame")
    return p


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def _span(text: str) -> tuple[float, float]:
    lo_text, _, hi_text = text.partition(":")
    try:
        lo = float(lo_text)
        hi = float(hi_text) if hi_text else lo
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SECONDS or MIN:MAX, got {text!r}") from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f"need 0 <= MIN <= MAX, got {text}")
    return lo, hi


def auto_sessions_options(args: argparse.Namespace) -> AutoSessionsOptions | None:
    if args.auto_sessions is None:
        return None
    lo, hi = args.auto_idle
    # plugged -> token and stopped -> unplugged take up to 3 s, never longer than the pause between two cars
    handling = (min(0.5, lo), min(3.0, hi))
    timing = AutoTiming(idle_s=args.auto_idle, charge_s=args.auto_charge, token_s=handling, unplug_s=handling)
    return AutoSessionsOptions(None if args.auto_sessions < 0 else args.auto_sessions, args.seed, timing)


def _percent(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= v <= 100:
        raise argparse.ArgumentTypeError(f"must be within 0..100, got {text}")
    return v


def apply_overrides(cfg: StationConfig, args: argparse.Namespace) -> StationConfig:
    if args.id is not None:
        if not args.id or len(args.id) > 48 or any(c in args.id for c in "/?# "):
            raise ConfigError(f"--id: must be 1..48 characters without '/', '?', '#' or spaces; got {args.id!r}")
        cfg.id = args.id
    if args.csms is not None:
        if not args.csms.startswith(("ws://", "wss://")):
            raise ConfigError(f"--csms: must start with ws:// or wss://; got {args.csms!r}")
        cfg.csms.url = args.csms
    if args.ocpp is not None:
        cfg.csms.ocpp = (args.ocpp,)
    if args.log_format is not None:
        cfg.log_format = args.log_format
    if args.data_dir is not None:
        cfg.data_dir = None if args.data_dir.lower() == "none" else args.data_dir
    for e in cfg.evses:
        if args.protocol is not None:
            e.protocol = args.protocol
        if args.can is not None:
            try:
                parse_bus_spec(args.can)
            except ValueError as err:
                raise ConfigError(f"--can: {err}") from None
            e.can = args.can
        if args.io is not None:
            try:
                check_io_spec(args.io)
            except ValueError as err:
                raise ConfigError(f"--io: {err}") from None
            e.io = args.io
        if args.ev == "none":
            e.ev = None
        elif args.ev is not None:
            e.ev = e.ev or EvConfig()
            e.ev.profile = args.ev
        if args.ev_soc is not None and args.ev != "none":
            e.ev = e.ev or EvConfig()
            e.ev.soc = args.ev_soc
    check_links(cfg.evses)  # protocol / can / io / ev together, as they will run (before anything is opened)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack to stderr, the process goes on
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        cfg = apply_overrides(load_config(args.config), args)
    except ConfigError as e:
        print(f"chargepoint: configuration error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    show_status = sys.stdout.isatty() and not args.no_status
    # On a terminal the live status line is the display: warnings and errors only (all of it with -v).
    setup_logging(cfg.log_format, logging.DEBUG if args.verbose else logging.INFO,
                  status_line=show_status and sys.stderr.isatty())
    try:
        return asyncio.run(run_station(cfg, args.duration, sys.stdout if show_status else None,
                                       grid_demo=None if args.no_grid_demo else args.grid_demo_after,
                                       auto=auto_sessions_options(args)))
    except KeyboardInterrupt:
        return EXIT_OK
    except ConfigError as e:
        print(f"chargepoint: configuration error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception:
        log.exception("fatal error")
        return EXIT_ERROR


def status_line(station: Any, session: Any) -> str:
    parts = [f"{session.transport.station_id}", "online" if session.online else "offline"]
    for evse in station.evses.values():
        st = evse.connector.state
        reading = station.reading(evse.id)
        soc = station.soc(evse.id)
        parts.append(
            f"EVSE{evse.id} {evse.connector.reported or '-'} {reading.power_w / 1000:+6.2f} kW "
            f"SoC {soc if soc is not None else float('nan'):5.1f}% "
            f"in {reading.import_wh / 1000:.3f} kWh out {reading.export_wh / 1000:.3f} kWh"
            + (f" [{st.phase.value}]" if st and st.phase != PortPhase.UNPLUGGED else "")
        )
    return " | ".join(parts)


def _log_action(action: Action) -> None:
    if isinstance(action, StatusChanged):
        log.info("status", extra={"fields": {"event": "status", "evse": action.evse_id, "status": action.status.value}})
    elif isinstance(action, TransactionStarted):
        log.info("transaction started", extra={"fields": {"event": "tx_started", "evse": action.evse_id,
                                                          "tx": action.tx_id, "meter_start_wh": action.meter_start_wh}})
    elif isinstance(action, TransactionEnded):
        log.info("transaction ended", extra={"fields": {"event": "tx_ended", "evse": action.evse_id, "tx": action.tx_id,
                                                        "reason": action.reason.value,
                                                        "meter_stop_wh": round(action.meter_stop_wh, 1)}})


@dataclass(frozen=True)
class AutoSessionsOptions:
    limit: int | None  # None: for ever
    seed: int
    timing: AutoTiming


async def run_station(cfg: StationConfig, duration: float | None, status_out: TextIO | None,
                      grid_demo: float | None = 20.0, auto: AutoSessionsOptions | None = None) -> int:
    clock = RealClock()
    store = open_store(cfg)
    assembly = build_station(cfg, clock)
    station = assembly.station
    emulator = None
    url = cfg.csms.url
    if url is None:
        from hil.emulators.csms import CsmsEmulator

        emulator = CsmsEmulator(protocols=tuple(OCPP_VERSIONS[v] for v in cfg.csms.ocpp), max_frames=10_000)
        await emulator.start()
        url = emulator.url
        log.info("embedded CSMS emulator listening", extra={"fields": {"url": url}})
    session = build_session(cfg, station, url, store)
    session.listeners.append(_log_action)
    ever_accepted = False

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    # The emulated cars are plugged in before the session starts, so a transaction recovered from the store sees
    # its car on the station's first tick and continues (without a car it would end with PowerLoss).
    cars: dict[int, Any] = {e.id: assembly.ports[e.id] for e in cfg.evses  # EmulatedPlug ports
                            if e.ev is not None and hasattr(assembly.ports[e.id], "plug_in")}
    generator = None
    if auto is not None:
        tokens = {e.id: e.ev.id_token for e in cfg.evses if e.ev is not None}
        generator = AutoSessions(station, cars, tokens, seed=auto.seed, limit=auto.limit, timing=auto.timing,
                                 store=store)
        generator.resume(store.transactions() if store is not None else [], clock.monotonic())
        log.info("auto-sessions on %d EVSE(s), seed %d, limit %s", len(generator.cars), auto.seed,
                 "none" if auto.limit is None else auto.limit)
    else:
        for port in cars.values():
            port.plug_in()
    runner = asyncio.create_task(session.run(), name="session")

    async def drive_cars() -> None:
        nonlocal ever_accepted
        await session.wait_accepted(timeout=10**9)
        ever_accepted = True
        for e in cfg.evses:
            # Not where a recovered transaction runs: presenting its own token again would stop it (Local).
            if e.ev is not None and generator is None and station.evse(e.id).tx is None:
                station.present_token(e.id, IdToken(e.ev.id_token))

    async def generate_sessions(generator: AutoSessions) -> None:
        while True:  # every 100 ms; the generator keeps its own timers
            generator.step(clock.monotonic())
            await asyncio.sleep(0.1)

    driver = asyncio.create_task(drive_cars(), name="cars")
    auto_task = asyncio.create_task(generate_sessions(generator), name="auto-sessions") if generator else None
    demo = None
    if emulator is not None and grid_demo is not None:
        from chargepoint.demo import grid_operator

        demo = asyncio.create_task(grid_operator(emulator, cfg.id, charge_s=grid_demo), name="grid-operator")

    async def show_status() -> None:
        assert status_out is not None
        while True:
            status_out.write("\r\x1b[2K" + status_line(station, session))
            status_out.flush()
            await asyncio.sleep(0.5)

    status_task = asyncio.create_task(show_status()) if status_out is not None else None
    try:
        waiters = [asyncio.create_task(stop.wait()), runner]
        await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        waiters[0].cancel()
        if runner.done() and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
    finally:
        session.stop()
        for t in (driver, auto_task, status_task, demo):
            if t is not None:
                t.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(runner, 5)
        if status_out is not None:
            status_out.write("\n")
        if emulator is not None:
            await emulator.stop()
        if store is not None:
            session.save_registers()
            store.close()
    final = status_line(station, session)
    log.info("stopped: %s", final, extra={"fields": {"event": "stopped"}})
    if not ever_accepted and not session.online:
        log.error("the CSMS never accepted the station: %s", session.last_error or "no BootNotification accepted")
        return EXIT_NOT_ACCEPTED
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
