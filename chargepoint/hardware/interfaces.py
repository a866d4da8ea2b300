"""Hardware-facing interfaces of the station.

The station model never talks to hardware directly. Each connector is bound to a :class:`ConnectorPort`: the
protocol-specific link to the car (the CHAdeMO charger state machine over CAN, or the emulated direct-DC path) that
turns a signed setpoint into energy and reports what the car and the power stage are doing. Ports are stepped with
the injected clock; emulated ports advance their physics in :meth:`ConnectorPort.step`.

Signed convention everywhere: positive current/power flows into the car, negative flows out of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PowerRatings:
    """What the charger's power stage can do (SI units, magnitudes)."""

    max_voltage_v: float = 500.0
    min_voltage_v: float = 50.0
    max_charge_current_a: float = 125.0
    max_discharge_current_a: float = 30.0
    max_charge_power_w: float = 50_000.0
    max_discharge_power_w: float = 10_000.0
    ramp_a_per_s: float = 20.0
    efficiency: float = 0.96


@dataclass(frozen=True, slots=True)
class MeterReading:
    voltage_v: float
    current_a: float  # signed, + into the car
    import_wh: float  # energy delivered into the car (monotonic)
    export_wh: float  # energy taken from the car (monotonic)

    @property
    def power_w(self) -> float:
        return self.voltage_v * self.current_a


class PortPhase(StrEnum):
    """Where the car/charger link is, independent of the protocol."""

    UNPLUGGED = "unplugged"
    CONNECTED = "connected"  # plugged, no energy transfer allowed or started yet
    PREPARING = "preparing"  # handshake / insulation test / contactors
    ENERGY = "energy"  # contactors closed, energy transfer possible
    SUSPENDED_EV = "suspended_ev"  # car does not take/give energy (full, request 0)
    STOPPING = "stopping"  # shutting down, current ramping to 0, welding detection
    FINISHED = "finished"  # session over, still plugged
    FAULTED = "faulted"


@dataclass(frozen=True, slots=True)
class PortState:
    phase: PortPhase
    meter: MeterReading
    soc_percent: float | None = None
    # The car's present limits (magnitudes, None = unknown). Arbitration must never exceed them.
    ev_max_charge_current_a: float | None = None
    ev_max_discharge_current_a: float | None = None
    ev_max_voltage_v: float | None = None
    ev_min_discharge_voltage_v: float | None = None
    ev_soc_min_percent: float | None = None
    ev_soc_max_percent: float | None = None
    ev_capacity_wh: float | None = None
    ev_stop_requested: bool = False
    fault: str | None = None  # human-readable reason when phase == FAULTED
    details: dict[str, object] = field(default_factory=dict)  # protocol specifics (e.g. CHAdeMO protocol number)


class ConnectorPort(Protocol):
    """The link from one connector to its car."""

    def step(self, now: float) -> PortState:
        """Advance to monotonic time ``now`` and return the present state."""
        ...

    def set_session_enabled(self, enabled: bool) -> None:
        """Allow (authorized transaction running) or forbid energy transfer. Disabling performs a normal stop."""
        ...

    def set_setpoint_w(self, watts: float) -> None:
        """Signed power setpoint. The port clamps it to the car's and the charger's limits; it never exceeds them."""
        ...

    def unlock(self) -> bool:
        """Release the connector lock. Returns False when unlocking is unsafe or failed."""
        ...


@dataclass(frozen=True, slots=True)
class SiteReading:
    """One reading of the site meter: the local measurement OCPP 2.1 LocalLoadBalancing (Q09) balances and
    LocalFrequency (Q08) follows."""

    import_w: float  # signed net power at the grid connection: + drawn from the grid, - fed into it; EVSEs included
    frequency_hz: float | None = None  # grid frequency; None = this meter does not measure it


class SiteMeter(Protocol):
    """The meter at the site's grid connection (the building's or the station's own upstream meter).

    The energy manager reads it once per station tick. A reading includes whatever the station's EVSEs draw or feed
    (the meter sits upstream of them); the manager takes their metered power out to find the rest of the site."""

    def read(self, now: float) -> SiteReading | None:
        """The reading at monotonic time ``now``; None while there is no valid one (meter lost, not yet read)."""
        ...


class EmulatedPlug(Protocol):
    """Extra control an emulated port offers to simulators and tests (a real port has a real cable)."""

    def plug_in(self) -> None: ...

    def unplug(self) -> None: ...
