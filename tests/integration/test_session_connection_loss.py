"""Connection loss with a CALL in flight that is not a transaction message (found by the chaos ledger run).

An Authorize whose connection drops before the answer is decided at once, as offline (local list, cache, policy),
and is NOT asked again after the reconnect: the earlier code did both - it decided locally (token unknown offline:
refused) and then sent the same Authorize again, whose Accepted answer reached nobody, so the car waited plugged in
with neither a transaction nor a refusal it could act on.
"""

from __future__ import annotations

import asyncio

import pytest

from chargepoint.clock import RealClock
from chargepoint.ocpp.session import StationSession
from chargepoint.ocpp.transport import TransportConfig
from chargepoint.station.auth import Authorizer
from chargepoint.station.core import Station
from chargepoint.station.settings import StationSettings
from chargepoint.station.types import IdToken
from hil.emulators.csms import CsmsBehaviour, CsmsEmulator
from hil.emulators.direct_dc import DirectDcPort

pytestmark = pytest.mark.timeout(60)

CS = "CSLOSS"


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_authorize_in_flight_when_the_connection_drops_is_decided_once_and_not_sent_again(protocol: str) -> None:
    behaviour = CsmsBehaviour(action_delays_s={"Authorize": 3.0})  # the answer would come too late
    async with CsmsEmulator(protocols=(protocol,), behaviour=behaviour) as csms:
        port = DirectDcPort(handshake_s=0.2, stop_s=0.2)
        station = Station({1: [port]}, RealClock(), StationSettings(aligned_interval_s=0, sample_interval_s=0),
                          Authorizer())
        transport = TransportConfig(url=csms.url, station_id=CS, protocols=(protocol,), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=10, default_retry_s=1)
        task = asyncio.create_task(session.run())
        try:
            await session.wait_accepted(5)
            port.plug_in()
            station.present_token(1, IdToken("TAG1"))
            first = await csms.wait_for(CS, "Authorize")
            assert station.evse(1).pending is not None  # waiting for the CSMS
            mark = csms.mark()
            await csms.disconnect(CS)  # the answer is lost with the connection
            await csms.wait_for(CS, "StatusNotification", after=mark, timeout=10)  # registered again, online
            # decided locally at once: unknown token while offline -> refused, nothing left waiting
            assert station.evse(1).pending is None and station.evse(1).tx is None
            behaviour.action_delays_s.clear()
            # The driver presents the card again. The queue is FIFO with one CALL in flight, so a repeat of the
            # lost Authorize would go out before this one: exactly one Authorize after the reconnect proves none.
            station.present_token(1, IdToken("TAG1"))
            again = await csms.wait_for(CS, "Authorize", after=first.index, timeout=10)
            if protocol == "ocpp1.6":
                await csms.wait_for(CS, "StartTransaction", after=again.index, timeout=10)
            else:
                await csms.wait_for(CS, "TransactionEvent", lambda p: p["eventType"] == "Started", again.index, 10)
            assert [f.index for f in csms.calls(CS, "Authorize") if f.index > first.index] == [again.index]
            assert station.evse(1).tx is not None and station.evse(1).tx.authorized
        finally:
            session.stop()
            await asyncio.wait_for(task, 5)


class _BrokenBench(DirectDcPort):
    """A port whose hardware goes away mid-session: every step after the first few raises, as SerialLineIO does
    when the control-line bench vanishes."""

    def __init__(self) -> None:
        super().__init__(handshake_s=0.2, stop_s=0.2)
        self.steps = 0

    def step(self, now: float):  # type: ignore[no-untyped-def]
        self.steps += 1
        if self.steps > 20:
            raise OSError("control-line bench gone")
        return super().step(now)


async def test_a_dead_control_loop_stops_the_session_instead_of_leaving_it_online() -> None:
    async with CsmsEmulator(protocols=("ocpp2.0.1",)) as csms:
        port = _BrokenBench()
        station = Station({1: [port]}, RealClock(), StationSettings(aligned_interval_s=0, sample_interval_s=0),
                          Authorizer())
        transport = TransportConfig(url=csms.url, station_id=CS, protocols=("ocpp2.0.1",), backoff_initial_s=0.05,
                                    backoff_max_s=0.2, backoff_jitter=0.0)
        session = StationSession(station, transport, tick_s=0.05, response_timeout_s=10, default_retry_s=1)
        with pytest.raises(OSError, match="bench gone"):
            await asyncio.wait_for(session.run(), 10)  # ~1 s of ticks, then the error surfaces
        assert port.steps == 21
        await csms.wait_disconnected(CS, 5)  # and it hung up: the CSMS sees the station offline
