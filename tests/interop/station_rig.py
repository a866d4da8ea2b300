"""A real station (model + session driver + emulated DC cars) running against the strict CSMS peer.

Everything is real except the cars: websockets on loopback, :class:`RealClock`, the station assembled the way
``chargepoint.app`` assembles it, and one :class:`DirectDcPort` per EVSE. Tests drive the car (``rig.port(1)``),
the user (``rig.station.present_token``) and the CSMS (``rig.peer.call``) and judge what the peer saw.

Synchronisation is by events with time-outs only: ``peer.wait_for`` for station CALLs, :func:`wait_frame` for
any other frame (e.g. a CALLERROR the station sends in answer to a raw frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from chargepoint.app import build_session, build_station
from chargepoint.clock import RealClock
from chargepoint.config import CsmsConfig, EvConfig, EvseConfig, MeteringConfig, StationConfig
from chargepoint.ocpp.session import StationSession
from chargepoint.station.core import Station
from hil.emulators.direct_dc import DirectDcPort

from .peer import Event, StrictPeer

VERSIONS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1", "ocpp2.1": "2.1"}

# Error classes by meaning. Our station uses the spelling of its negotiated version; ocpp-rpc uses the 1.6 spelling
# for every version (and 1.6 itself has the "Occurence"/"Formation" misspellings), so tests compare classes.
FORMAT_ERRORS = frozenset({"FormatViolation", "FormationViolation"})
FRAMEWORK_ERRORS = frozenset({"RpcFrameworkError", "ProtocolError"})
OCCURRENCE_ERRORS = frozenset({"OccurrenceConstraintViolation", "OccurenceConstraintViolation"})
TYPE_ERRORS = frozenset({"TypeConstraintViolation"})
PROPERTY_ERRORS = frozenset({"PropertyConstraintViolation"})
SCHEMA_ERRORS = OCCURRENCE_ERRORS | TYPE_ERRORS | PROPERTY_ERRORS | FORMAT_ERRORS
NOT_IMPLEMENTED_ERRORS = frozenset({"NotImplemented", "NotSupported"})


# frames checked per OCPP version in this pytest run (label -> frames), for the per-file summary line
TALLY: dict[str, dict[str, int]] = {}


def summary(version: str) -> str:
    runs = TALLY.get(version, {})
    return f"interop {version}: {sum(runs.values())} frames in {len(runs)} runs, 0 violations"


class StationRig:
    def __init__(
        self,
        peer: StrictPeer,
        station_id: str,
        station: Station,
        ports: dict[int, DirectDcPort],
        session: StationSession,
    ) -> None:
        self.peer = peer
        self.station_id = station_id
        self.station = station
        self.ports = ports
        self.session = session
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        # message ids of frames the test sent with send_raw: the station's CALLERROR answers to them are expected
        self.raw_ids: set[str] = set()

    def port(self, evse_id: int) -> DirectDcPort:
        return self.ports[evse_id]

    # ------------------------------------------------------------------ CSMS side
    async def call(self, action: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        return await self.peer.call(self.station_id, action, payload, timeout=timeout)

    async def wait_for(
        self, action: str, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 10.0
    ) -> Event:
        return await self.peer.wait_for(self.station_id, action, predicate, timeout=timeout)

    async def wait_result(self, call: Event, timeout: float = 10.0) -> dict[str, Any]:
        """The peer's CALLRESULT payload for a station CALL (fails on a CALLERROR)."""
        answer = await self.peer.response_to(call, timeout)
        assert answer["type"] == 3, f"peer answered {call['action']} with {answer.get('error')}"
        payload: dict[str, Any] = answer.get("payload") or {}
        return payload

    async def send_raw(self, raw: str, message_id: str | None = None) -> None:
        """Send a raw frame; ``message_id`` is the id the station should echo (None: it cannot know one)."""
        self.raw_ids.add(message_id if message_id is not None else "-1")
        await self.peer.send_raw(self.station_id, raw)

    # ------------------------------------------------------------------ frames
    def frames(self, direction: str | None = None) -> list[Event]:
        return self.peer.frames(self.station_id, direction)

    def calls(self, action: str | None = None) -> list[Event]:
        return self.peer.calls(self.station_id, action)

    async def wait_frame(
        self, predicate: Callable[[Event], bool], what: str, timeout: float = 10.0, after: int = 0
    ) -> Event:
        return await wait_frame(self.peer, self.station_id, predicate, what, timeout, after)

    async def wait_error_reply(self, message_id: str, after: int = 0, timeout: float = 10.0) -> Event:
        """The station's CALLERROR to a frame the test sent raw (only frames after the first ``after`` count)."""
        return await self.wait_frame(
            lambda f: f.get("dir") == "in" and f.get("type") == 4 and f.get("message_id") == message_id,
            f"CALLERROR {message_id!r} from {self.station_id}",
            timeout,
            after,
        )

    # ------------------------------------------------------------------ verdict
    def expected_violations(self) -> list[Event]:
        """Violations that are peer gaps, not station faults.

        ocpp-rpc does not track the ids of frames sent with ``send_raw``, so the station's (correct) CALLERROR
        answer to such a frame is reported as ``bad_message`` "Received CALLERROR for unrecognised message ID".
        Only exactly those are expected: a CALLERROR frame from the station whose id is one the test sent raw.
        """
        out = []
        for v in self.peer.violations:
            if v.get("kind") != "bad_message" or v.get("station") != self.station_id:
                continue
            try:
                frame = json.loads(v.get("raw") or "")
            except json.JSONDecodeError:
                continue
            unrecognised = "unrecognised message id" in str((v.get("error") or {}).get("message", "")).lower()
            if (
                unrecognised
                and isinstance(frame, list)
                and len(frame) == 5
                and frame[0] == 4
                and frame[1] in self.raw_ids
            ):
                out.append(v)
        return out

    def assert_clean(self) -> int:
        """Zero schema violations in either direction (apart from :meth:`expected_violations`); returns #frames."""
        expected = {id(v) for v in self.expected_violations()}
        unexpected = [v for v in self.peer.violations if id(v) not in expected]
        if unexpected:
            lines = [
                f"- {v.get('station')} {v.get('direction')} {v.get('kind')} {v.get('action')} "
                f"(culprit {v.get('culprit')}): {(v.get('error') or {}).get('code')}: "
                f"{(v.get('error') or {}).get('message')} payload={json.dumps(v.get('payload'))[:400]}"
                for v in unexpected
            ]
            raise AssertionError(f"{len(unexpected)} OCPP violation(s) seen by the strict peer:\n" + "\n".join(lines))
        if not expected:
            self.peer.assert_no_violations()  # same verdict through the peer's own API
        return len(self.frames())

    def report(self, label: str) -> int:
        n = self.assert_clean()
        calls_in = len([f for f in self.frames("in") if f.get("type") == 2])
        calls_out = len([f for f in self.frames("out") if f.get("type") == 2])
        gaps = len(self.expected_violations())
        extra = f", {gaps} expected peer-gap reports (CALLERROR to raw frames)" if gaps else ""
        version = VERSIONS[self.session.subprotocol or ""]
        TALLY.setdefault(version, {})[label] = n
        print(
            f"interop {version} {label}: {n} frames "
            f"({calls_in} station CALLs, {calls_out} CSMS CALLs), 0 violations{extra}, "
            f"{time.monotonic() - self.started:.1f} s"
        )
        return n


async def wait_frame(
    peer: StrictPeer, station: str, predicate: Callable[[Event], bool], what: str, timeout: float = 10.0, after: int = 0
) -> Event:
    """Wait for a frame of ``station`` matching ``predicate``; frames seen earlier count too, except the first
    ``after`` frames of the station."""
    deadline = time.monotonic() + timeout
    while True:
        for f in peer.frames(station)[after:]:
            if predicate(f):
                return f
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)  # poll interval, not a synchronisation delay


def station_config(station_id: str, protocol: str, evses: int) -> StationConfig:
    return StationConfig(
        id=station_id,
        csms=CsmsConfig(ocpp=(VERSIONS[protocol],), backoff_initial_s=0.2, backoff_max_s=1.0, response_timeout_s=10.0),
        evses=[EvseConfig(i, protocol="direct", ev=EvConfig()) for i in range(1, evses + 1)],
        metering=MeteringConfig(sample_interval_s=1),
    )


@contextlib.asynccontextmanager
async def running_station(
    peer: StrictPeer,
    protocol: str,
    station_id: str,
    *,
    evses: int = 2,
    sample_interval_s: int = 1,
    handshake_s: float = 0.3,
    wait_accepted: bool = True,
) -> AsyncIterator[StationRig]:
    """Assemble a station like ``chargepoint.app`` does, run its session against ``peer`` and stop it afterwards."""
    assert protocol in peer.protocols
    cfg = station_config(station_id, protocol, evses)
    assembly = build_station(cfg, RealClock())
    assembly.station.settings.sample_interval_s = sample_interval_s
    ports: dict[int, DirectDcPort] = {}
    for evse_id, port in assembly.ports.items():
        assert isinstance(port, DirectDcPort)
        port.handshake_s = handshake_s
        port.stop_s = 0.2
        ports[evse_id] = port
    session = build_session(cfg, assembly.station, peer.url)
    rig = StationRig(peer, station_id, assembly.station, ports, session)
    rig.task = asyncio.create_task(session.run(), name=f"station-{station_id}")
    body_failed = False
    try:
        if wait_accepted:
            connected = await peer.wait_connected(station_id)
            assert connected["protocol"] == protocol
            await asyncio.wait_for(_accepted_or_crash(rig), 10)
        yield rig
        assert not rig.task.done(), f"the station session ended during the test: {rig.task!r}"
    except BaseException:
        body_failed = True
        raise
    finally:
        stop_s = await _stop(rig)
        if not body_failed:
            assert stop_s is not None, f"StationSession.run() did not return within {STOP_TIMEOUT_S} s of stop()"
            rig.task.result()  # re-raises whatever ended the session


STOP_TIMEOUT_S = 3.0


async def _stop(rig: StationRig) -> float | None:
    """stop() the session and wait for run() to return; the seconds it took, or None after a forced cancel."""
    assert rig.task is not None
    started = time.monotonic()
    rig.session.stop()
    done, _ = await asyncio.wait({rig.task}, timeout=STOP_TIMEOUT_S)
    if done:
        return time.monotonic() - started
    rig.task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await rig.task
    return None


async def _accepted_or_crash(rig: StationRig) -> None:
    """session.wait_accepted, but fail at once (with the cause) if the session task dies first."""
    assert rig.task is not None
    accepted = asyncio.create_task(rig.session.wait_accepted(10))
    done, _ = await asyncio.wait({accepted, rig.task}, return_when=asyncio.FIRST_COMPLETED)
    if rig.task in done:
        accepted.cancel()
        rig.task.result()
        raise AssertionError("station session ended before it was accepted")
    accepted.result()
