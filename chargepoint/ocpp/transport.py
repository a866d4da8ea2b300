"""OCPP-J over websockets: subprotocol negotiation, security profiles 1-3 (Basic auth, TLS, mutual TLS) and
reconnect back-off. TLS contexts are built by :mod:`chargepoint.ocpp.security`."""

from __future__ import annotations

import base64
import logging
import math
import random
import ssl
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from chargepoint.ocpp.security import FAILED_TO_AUTHENTICATE_AT_CSMS, PROFILES, classify_tls_error, is_tls_error

log = logging.getLogger("chargepoint.transport")

SUPPORTED_SUBPROTOCOLS = ("ocpp2.1", "ocpp2.0.1", "ocpp1.6")
MAX_FRAME_BYTES = 1 << 20


class TransportError(Exception):
    """A connection attempt failed in a way worth reporting (and retrying later)."""

    #: The security event (2.0.1 name) this failure stands for, if any; the session reports it to the CSMS.
    security_event: str | None = None


class SubprotocolMismatch(TransportError):
    pass


class AuthenticationRejected(TransportError):
    security_event = FAILED_TO_AUTHENTICATE_AT_CSMS


class TlsHandshakeFailed(TransportError):
    def __init__(self, message: str, security_event: str | None) -> None:
        super().__init__(message)
        self.security_event = security_event


@dataclass
class TransportConfig:
    url: str  # the CSMS endpoint; the station id is appended as the last path segment
    station_id: str
    protocols: tuple[str, ...] = ("ocpp2.0.1",)
    password: str | None = field(default=None, repr=False)  # Basic auth (profiles 1 and 2); never logged
    ping_interval_s: float | None = 30.0
    ping_timeout_s: float | None = 30.0
    open_timeout_s: float = 10.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    backoff_jitter: float = 0.5  # +/- fraction of the delay
    max_frame_bytes: int = MAX_FRAME_BYTES
    ssl_context: ssl.SSLContext | None = None  # wss://: the TLS client context (None = system defaults)
    security_profile: int = 1  # 1: Basic auth; 2: TLS + Basic auth; 3: mutual TLS, no Basic auth

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("ws", "wss"):
            raise ValueError(f"csms url {self.url!r}: scheme must be ws or wss")
        if self.security_profile not in PROFILES:
            raise ValueError(f"security profile must be 1, 2 or 3; got {self.security_profile}")
        if self.security_profile >= 2 and parts.scheme != "wss":
            raise ValueError(f"csms url {self.url!r}: security profile {self.security_profile} needs wss://")
        if not parts.hostname:
            raise ValueError(f"csms url {self.url!r}: no host")
        if not self.station_id:
            raise ValueError("station id must not be empty")
        for p in self.protocols:
            if p not in SUPPORTED_SUBPROTOCOLS:
                raise ValueError(f"unsupported OCPP subprotocol {p!r} (supported: {', '.join(SUPPORTED_SUBPROTOCOLS)})")
        if not self.protocols:
            raise ValueError("at least one OCPP version must be offered")

    @property
    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/" + quote(self.station_id, safe="")

    def auth_header(self) -> dict[str, str]:
        if self.password is None or self.security_profile == 3:
            return {}
        token = base64.b64encode(f"{self.station_id}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}


class Backoff:
    """Exponential back-off with jitter: initial, 2x, 4x ... capped at max; reset after a good connection.

    ``jitter`` spreads each wait by +/- that fraction; ``random_range`` adds a random 0..random_range s to it (the
    OCPP 2.x schedule, see :meth:`use_ocpp`)."""

    def __init__(self, initial: float, maximum: float, jitter: float, rng: random.Random | None = None,
                 random_range: float = 0.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.random_range = random_range
        self.repeat: int | None = None  # set by use_ocpp (RetryBackOffRepeatTimes)
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * (2 ** min(self.attempt, 64)))  # no float overflow after days
        self.attempt += 1
        spread = base * self.jitter
        delay = base + self._rng.uniform(-spread, spread)
        if self.random_range > 0:
            delay += self._rng.uniform(0, self.random_range)
        return max(0.0, delay)

    def reset(self) -> None:
        self.attempt = 0

    @property
    def repeat_times(self) -> int:
        """How many times the wait doubles before it stays (2.x RetryBackOffRepeatTimes)."""
        if self.repeat is not None:
            return self.repeat
        if self.initial <= 0 or self.maximum <= self.initial:
            return 0
        return math.ceil(math.log2(self.maximum / self.initial) - 1e-9)

    def use_ocpp(self, wait_minimum: float, random_range: float, repeat_times: int) -> None:
        """The OCPP 2.x (Part 4) schedule: RetryBackOffWaitMinimum plus a random 0..RetryBackOffRandomRange s,
        doubled after every failed attempt RetryBackOffRepeatTimes times, then kept; no proportional jitter."""
        self.repeat = max(0, repeat_times)
        self.initial = float(wait_minimum)
        self.maximum = float(wait_minimum) * 2 ** min(self.repeat, 64)
        self.random_range = float(random_range)
        self.jitter = 0.0


def _closed_before_http(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EOFError):
            return isinstance(exc, InvalidMessage)
        seen = seen.__cause__ or seen.__context__
    return False


async def open_connection(cfg: TransportConfig) -> ClientConnection:
    """Open the websocket and check the negotiated subprotocol. Raises TransportError subclasses on refusal."""
    try:
        ws = await connect(
            cfg.endpoint,
            subprotocols=list(cfg.protocols),  # type: ignore[arg-type]
            additional_headers=cfg.auth_header(),
            ping_interval=cfg.ping_interval_s,
            ping_timeout=cfg.ping_timeout_s,
            open_timeout=cfg.open_timeout_s,
            max_size=cfg.max_frame_bytes,
            ssl=cfg.ssl_context,
        )
    except InvalidStatus as e:
        code = e.response.status_code
        if code in (401, 403):
            raise AuthenticationRejected(f"CSMS refused the credentials of {cfg.station_id!r} (HTTP {code})") from e
        if code == 400:
            raise SubprotocolMismatch(
                f"CSMS refused the websocket upgrade (HTTP 400); it may support none of the offered OCPP versions "
                f"({', '.join(cfg.protocols)})"
            ) from e
        raise TransportError(f"CSMS refused the connection (HTTP {code})") from e
    except Exception as e:  # websockets raises several handshake errors (InvalidHandshake, ...)
        if is_tls_error(e):
            raise TlsHandshakeFailed(f"TLS handshake with {cfg.endpoint} failed: {e}", classify_tls_error(e)) from e
        if cfg.security_profile == 3 and _closed_before_http(e):
            # TLS 1.3 checks the client certificate after the client's handshake is done: a CSMS that refuses it
            # closes the connection before any HTTP response (its alert is often lost on the way).
            raise TlsHandshakeFailed(
                f"{cfg.endpoint} closed the connection after the TLS handshake without an HTTP response (client "
                f"certificate refused?): {e}", FAILED_TO_AUTHENTICATE_AT_CSMS) from e
        if isinstance(e, OSError | TimeoutError):
            raise TransportError(f"cannot reach {cfg.endpoint}: {e}") from e
        raise TransportError(f"websocket handshake with {cfg.endpoint} failed: {e}") from e
    if ws.subprotocol not in cfg.protocols:
        await ws.close()
        raise SubprotocolMismatch(
            f"CSMS at {cfg.url} accepted none of the offered OCPP versions ({', '.join(cfg.protocols)})"
        )
    return ws
