"""A TCP fault proxy on loopback, between a station and its CSMS, for chaos tests.

It forwards bytes both ways unchanged and, on command, injects the network faults a charger on a wall sees:

* :meth:`FaultProxy.go_down` / :meth:`FaultProxy.come_up`: the CSMS is unreachable. The listening socket is closed
  (new connections are refused) and every open connection is reset.
* :meth:`FaultProxy.reset_mid_frame`: the next chunk of bytes that crosses the proxy (either direction) is cut: a
  random non-empty proper prefix of it is delivered, then both sockets are reset (RST, no FIN). A websocket frame
  is thus torn in the middle, as when a mobile link drops.

The listening port stays the same across down / up, so the station's configured URL stays valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from dataclasses import dataclass, field


@dataclass
class ProxyStats:
    connections: int = 0
    refused_windows: int = 0
    resets: int = 0  # connections reset by go_down
    torn: int = 0  # connections reset mid-chunk by reset_mid_frame
    torn_bytes_cut: list[int] = field(default_factory=list)  # bytes of the torn chunk that were not delivered
    torn_at: list[float] = field(default_factory=list)  # time.monotonic() of each tear


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER on, timeout 0, then abort (no FIN, unsent data dropped)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, upstream_port: int, *, host: str = "127.0.0.1", seed: int = 0) -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.port = 0
        self.rng = random.Random(seed)
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._tear_next = False
        self._torn = asyncio.Event()

    @property
    def up(self) -> bool:
        return self._server is not None

    def url(self, path: str = "") -> str:
        return f"ws://{self.host}:{self.port}/{path.lstrip('/')}"

    async def start(self) -> None:
        await self.come_up()

    async def come_up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def go_down(self) -> None:
        """Refuse new connections and reset the open ones until :meth:`come_up`."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
            self.stats.refused_windows += 1
        for a, b in list(self._pairs):
            self.stats.resets += 1
            _abort(a)
            _abort(b)
        self._pairs.clear()

    async def reset_mid_frame(self, timeout: float = 10.0) -> bool:
        """Tear the next chunk that crosses the proxy and reset its connection. False if no byte moved in time."""
        self._torn.clear()
        self._tear_next = True
        try:
            async with asyncio.timeout(timeout):
                await self._torn.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._tear_next = False

    async def stop(self) -> None:
        await self.go_down()
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            _abort(writer)
            return
        self.stats.connections += 1
        pair = (writer, up_writer)
        self._pairs.add(pair)
        tasks = [asyncio.create_task(self._pump(reader, up_writer, pair)),
                 asyncio.create_task(self._pump(up_reader, writer, pair))]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks)  # a clean close half-closes each way in turn; a reset ends both at once
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
                self._tasks.discard(t)
            self._pairs.discard(pair)
            for w in pair:
                if not w.is_closing():
                    w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        try:
            while chunk := await reader.read(65536):
                if self._tear_next and len(chunk) > 1 and pair in self._pairs:
                    self._tear_next = False
                    self.stats.torn_at.append(time.monotonic())
                    cut = self.rng.randint(1, len(chunk) - 1)
                    writer.write(chunk[:cut])
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
                    self.stats.torn += 1
                    self.stats.torn_bytes_cut.append(len(chunk) - cut)
                    self._pairs.discard(pair)
                    for w in pair:
                        _abort(w)
                    self._torn.set()
                    return
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            return
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()
