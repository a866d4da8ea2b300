"""The contract between the session driver and the per-version OCPP adapters.

An adapter is an ``ocpp.vXX.ChargePoint`` subclass with :class:`StrictRouter` routing. It translates:

* inbound CSMS calls (``@on`` handlers) into :class:`~chargepoint.station.core.Station` commands, and
* the station's neutral :mod:`~chargepoint.station.actions` into outbound CALLs (:meth:`AdapterBase.dispatch`).

It holds no session state beyond what a protocol needs (e.g. the 1.6 integer transaction ids, 2.x seqNo counters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from chargepoint.station.actions import Action
from chargepoint.station.core import Station
from chargepoint.station.types import ResetKind


@dataclass(frozen=True)
class StationIdentity:
    vendor: str = "OpenV2X"
    model: str = "CHAdeMO-BiDi-10"
    serial_number: str = "SN-0001"
    firmware_version: str = "0.1.0"


@dataclass(frozen=True)
class BootOutcome:
    status: str  # "Accepted" | "Pending" | "Rejected"
    interval: int  # seconds: heartbeat interval when Accepted, retry interval otherwise (0 = CSMS did not say)
    current_time: datetime | None = None


class SessionHooks(Protocol):
    """What an adapter may ask of the session driver that owns it."""

    @property
    def registration_status(self) -> str:
        """'Accepted', 'Pending' or 'Rejected' (the last BootNotification answer)."""
        ...

    def request_reboot(self, kind: ResetKind) -> None: ...

    def trigger_boot(self) -> None:
        """Send a BootNotification now (TriggerMessage)."""
        ...

    def trigger_heartbeat(self) -> None: ...

    def set_heartbeat_interval(self, seconds: int) -> None: ...

    def note_time(self, current_time: datetime) -> None:
        """The CSMS told us the time (BootNotification / Heartbeat response)."""
        ...


class AdapterBase:
    """Fields and methods every adapter provides. Concrete adapters also inherit ``ocpp.vXX.ChargePoint``."""

    version: ClassVar[str]  # "1.6" | "2.0.1" | "2.1"
    subprotocol: ClassVar[str]  # "ocpp1.6" | "ocpp2.0.1" | "ocpp2.1"

    station: Station
    hooks: SessionHooks
    identity: StationIdentity

    if TYPE_CHECKING:  # the ocpp library's receive loop; a real stub here would shadow ocpp.ChargePoint.start

        async def start(self) -> None: ...

    async def boot(self, reason: str) -> BootOutcome:
        """Send BootNotification (reason: 2.x BootReasonEnumType spelling, e.g. 'PowerUp', 'RemoteReset')."""
        raise NotImplementedError

    async def heartbeat(self) -> datetime | None:
        raise NotImplementedError

    async def dispatch(self, action: Action) -> None:
        """Send what the action means in this version. Raises on transport failure so the caller can retry."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"version": self.version}
