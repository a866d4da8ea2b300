"""Transport configuration, back-off, and the handshake against a real websockets server on loopback."""

from __future__ import annotations

import base64
import random

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from chargepoint.ocpp.transport import (
    AuthenticationRejected,
    Backoff,
    SubprotocolMismatch,
    TransportConfig,
    TransportError,
    open_connection,
)


def test_backoff_doubles_with_jitter_and_caps() -> None:
    b = Backoff(1.0, 30.0, 0.5, random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    bases = [1, 2, 4, 8, 16, 30, 30, 30]
    for d, base in zip(delays, bases, strict=True):
        assert base * 0.5 <= d <= base * 1.5
    assert len(set(delays)) == len(delays)  # jitter spreads reconnect storms
    b.reset()
    assert 0.5 <= b.next_delay() <= 1.5


def test_backoff_ocpp_schedule_wait_minimum_doubled_repeat_times_plus_random_range() -> None:
    b = Backoff(1.0, 60.0, 0.5, random.Random(2))
    assert b.repeat_times == 6
    b.use_ocpp(wait_minimum=10, random_range=5, repeat_times=2)
    assert (b.initial, b.maximum, b.jitter, b.repeat_times) == (10.0, 40.0, 0.0, 2)
    delays = [b.next_delay() for _ in range(5)]
    for d, base in zip(delays, [10, 20, 40, 40, 40], strict=True):
        assert base <= d <= base + 5  # the random part is added, never doubled
    b.use_ocpp(wait_minimum=0, random_range=0, repeat_times=3)
    assert b.repeat_times == 3 and b.next_delay() == 0.0


def test_backoff_survives_days_of_failed_attempts() -> None:
    b = Backoff(1.0, 60.0, 0.0)
    b.attempt = 5000  # ~3 days offline at 60 s: 2 ** 5000 overflows a float and would end the connection loop
    assert b.next_delay() == 60.0


def test_transport_config_validation() -> None:
    with pytest.raises(ValueError, match="scheme must be ws or wss"):
        TransportConfig(url="http://x", station_id="CP")
    with pytest.raises(ValueError, match="unsupported OCPP subprotocol"):
        TransportConfig(url="ws://x", station_id="CP", protocols=("ocpp1.5",))
    cfg = TransportConfig(url="ws://h:1/ocpp/", station_id="CP 1/2")
    assert cfg.endpoint == "ws://h:1/ocpp/CP%201%2F2"


def test_password_is_not_in_repr() -> None:
    cfg = TransportConfig(url="ws://h", station_id="CP", password="0123456789abcdef")
    assert "0123456789abcdef" not in repr(cfg)
    header = cfg.auth_header()["Authorization"]
    assert base64.b64decode(header.split()[1]).decode() == "CP:0123456789abcdef"


async def _echo(ws: ServerConnection) -> None:
    async for _ in ws:
        pass


async def test_negotiates_the_offered_subprotocol() -> None:
    async with serve(_echo, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        ws = await open_connection(TransportConfig(url=f"ws://127.0.0.1:{port}", station_id="CP",
                                                   protocols=("ocpp2.0.1",)))
        assert ws.subprotocol == "ocpp2.0.1"
        assert ws.request is not None and ws.request.path == "/CP"
        await ws.close()


async def test_subprotocol_mismatch_is_a_clear_error() -> None:
    async with serve(_echo, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(SubprotocolMismatch, match=r"HTTP 400.*offered OCPP versions \(ocpp2.0.1\)"):
            await open_connection(TransportConfig(url=f"ws://127.0.0.1:{port}", station_id="CP",
                                                  protocols=("ocpp2.0.1",)))


async def test_server_without_subprotocol_is_refused_by_the_station() -> None:
    async with serve(_echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(SubprotocolMismatch, match="accepted none of the offered OCPP versions"):
            await open_connection(TransportConfig(url=f"ws://127.0.0.1:{port}", station_id="CP",
                                                  protocols=("ocpp1.6",)))


async def test_basic_auth_rejection_is_reported() -> None:
    expected = "Basic " + base64.b64encode(b"CP:0123456789abcdef").decode()

    def check(conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Authorization") != expected:
            return conn.respond(401, "bad credentials\n")
        return None

    async with serve(_echo, "127.0.0.1", 0, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                     process_request=check) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        with pytest.raises(AuthenticationRejected, match="HTTP 401"):
            await open_connection(TransportConfig(url=url, station_id="CP", protocols=("ocpp1.6",),
                                                  password="wrong-password-123"))
        ws = await open_connection(TransportConfig(url=url, station_id="CP", protocols=("ocpp1.6",),
                                                   password="0123456789abcdef"))
        assert ws.subprotocol == "ocpp1.6"
        await ws.close()


async def test_unreachable_csms_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot reach"):
        await open_connection(TransportConfig(url="ws://127.0.0.1:1", station_id="CP", open_timeout_s=2))

