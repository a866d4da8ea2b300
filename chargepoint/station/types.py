"""Version-neutral vocabulary of the station model.

OCPP 1.6 and 2.0.1/2.1 adapters map these to and from their own enums; nothing here is protocol-specific.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ConnectorStatus(StrEnum):
    """The union of OCPP 1.6 ChargePointStatus and 2.0.1 ConnectorStatusEnumType.

    2.0.1 folds Preparing/Charging/SuspendedEV/SuspendedEVSE/Finishing into ``Occupied``.
    """

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"

    @property
    def occupied(self) -> bool:
        return self in _OCCUPIED


_OCCUPIED = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
    }
)


class ChargingState(StrEnum):
    """2.0.1 TransactionType.chargingState; also used to emit 1.6 status changes inside a transaction."""

    EV_CONNECTED = "EVConnected"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    IDLE = "Idle"


class AuthStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"
    UNKNOWN = "Unknown"
    NO_CREDIT = "NoCredit"
    NOT_ALLOWED_TYPE_EVSE = "NotAllowedTypeEVSE"
    NOT_AT_THIS_LOCATION = "NotAtThisLocation"
    NOT_AT_THIS_TIME = "NotAtThisTime"


@dataclass(frozen=True, slots=True)
class IdToken:
    id: str
    type: str = "ISO14443"  # 2.0.1 IdTokenEnumType; 1.6 only uses the id

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True)
class AuthInfo:
    status: AuthStatus
    expiry: datetime | None = None
    parent_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == AuthStatus.ACCEPTED


class StopReason(StrEnum):
    """Union of 1.6 Reason and 2.0.1 ReasonEnumType (neutral spelling = 2.0.1 spelling)."""

    DE_AUTHORIZED = "DeAuthorized"
    EMERGENCY_STOP = "EmergencyStop"
    ENERGY_LIMIT_REACHED = "EnergyLimitReached"
    EV_DISCONNECTED = "EVDisconnected"
    GROUND_FAULT = "GroundFault"
    IMMEDIATE_RESET = "ImmediateReset"
    LOCAL = "Local"
    LOCAL_OUT_OF_CREDIT = "LocalOutOfCredit"
    MASTER_PASS = "MasterPass"
    OTHER = "Other"
    OVERCURRENT_FAULT = "OvercurrentFault"
    POWER_LOSS = "PowerLoss"
    POWER_QUALITY = "PowerQuality"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOC_LIMIT_REACHED = "SOCLimitReached"
    STOPPED_BY_EV = "StoppedByEV"
    TIME_LIMIT_REACHED = "TimeLimitReached"
    TIMEOUT = "Timeout"
    HARD_RESET = "HardReset"  # 1.6 only; 2.0.1 maps to ImmediateReset
    SOFT_RESET = "SoftReset"  # 1.6 only; 2.0.1 maps to ImmediateReset
    UNLOCK_COMMAND = "UnlockCommand"  # 1.6 only; 2.0.1 maps to Other (trigger UnlockCommand)


class TriggerReason(StrEnum):
    """2.0.1 TriggerReasonEnumType subset the model produces; 1.6 ignores it."""

    AUTHORIZED = "Authorized"
    CABLE_PLUGGED_IN = "CablePluggedIn"
    CHARGING_RATE_CHANGED = "ChargingRateChanged"
    CHARGING_STATE_CHANGED = "ChargingStateChanged"
    DEAUTHORIZED = "Deauthorized"
    ENERGY_LIMIT_REACHED = "EnergyLimitReached"
    EV_COMMUNICATION_LOST = "EVCommunicationLost"
    EV_CONNECT_TIMEOUT = "EVConnectTimeout"
    METER_VALUE_CLOCK = "MeterValueClock"
    METER_VALUE_PERIODIC = "MeterValuePeriodic"
    TIME_LIMIT_REACHED = "TimeLimitReached"
    TRIGGER = "Trigger"
    UNLOCK_COMMAND = "UnlockCommand"
    STOP_AUTHORIZED = "StopAuthorized"
    EV_DEPARTED = "EVDeparted"
    EV_DETECTED = "EVDetected"
    REMOTE_STOP = "RemoteStop"
    REMOTE_START = "RemoteStart"
    ABNORMAL_CONDITION = "AbnormalCondition"
    SIGNED_DATA_RECEIVED = "SignedDataReceived"
    RESET_COMMAND = "ResetCommand"


class ReadingContext(StrEnum):
    INTERRUPTION_BEGIN = "Interruption.Begin"
    INTERRUPTION_END = "Interruption.End"
    OTHER = "Other"
    SAMPLE_CLOCK = "Sample.Clock"
    SAMPLE_PERIODIC = "Sample.Periodic"
    TRANSACTION_BEGIN = "Transaction.Begin"
    TRANSACTION_END = "Transaction.End"
    TRIGGER = "Trigger"


class Measurand(StrEnum):
    ENERGY_IMPORT_REGISTER = "Energy.Active.Import.Register"
    ENERGY_EXPORT_REGISTER = "Energy.Active.Export.Register"
    POWER_IMPORT = "Power.Active.Import"
    POWER_EXPORT = "Power.Active.Export"
    CURRENT_IMPORT = "Current.Import"
    CURRENT_EXPORT = "Current.Export"
    VOLTAGE = "Voltage"
    SOC = "SoC"


MEASURAND_UNITS: dict[Measurand, str] = {
    Measurand.ENERGY_IMPORT_REGISTER: "Wh",
    Measurand.ENERGY_EXPORT_REGISTER: "Wh",
    Measurand.POWER_IMPORT: "W",
    Measurand.POWER_EXPORT: "W",
    Measurand.CURRENT_IMPORT: "A",
    Measurand.CURRENT_EXPORT: "A",
    Measurand.VOLTAGE: "V",
    Measurand.SOC: "Percent",
}


@dataclass(frozen=True, slots=True)
class SampledValue:
    measurand: Measurand
    value: float
    context: ReadingContext
    location: str = "Outlet"  # Outlet for the DC output; SoC uses EV

    @property
    def unit(self) -> str:
        return MEASURAND_UNITS[self.measurand]


@dataclass(frozen=True, slots=True)
class MeterSample:
    timestamp: datetime
    values: tuple[SampledValue, ...]


@dataclass(frozen=True, slots=True)
class ConnectorRef:
    evse_id: int
    connector_id: int = 1  # connector number within its EVSE (2.0.1 numbering)


@dataclass(slots=True)
class AvailabilityRequest:
    operative: bool
    pending: bool = False  # scheduled until the running transaction ends


class CommandStatus(StrEnum):
    """Neutral answers of remote commands; adapters map them to each version's enums."""

    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    SCHEDULED = "Scheduled"
    NOT_SUPPORTED = "NotSupported"
    UNKNOWN = "Unknown"


class UnlockResult(StrEnum):
    UNLOCKED = "Unlocked"
    UNLOCK_FAILED = "UnlockFailed"
    ONGOING_AUTHORIZED_TRANSACTION = "OngoingAuthorizedTransaction"
    UNKNOWN_CONNECTOR = "UnknownConnector"
    NOT_SUPPORTED = "NotSupported"


class ResetKind(StrEnum):
    SOFT = "Soft"  # 1.6 Soft  ~ 2.0.1 OnIdle semantics are separate: see Station.reset
    HARD = "Hard"
    IMMEDIATE = "Immediate"
    ON_IDLE = "OnIdle"


@dataclass(slots=True)
class TransactionLimits:
    """Limits a transaction may carry; unused values stay None."""

    max_energy_wh: float | None = None
    max_time_s: float | None = None


@dataclass(slots=True)
class FaultInfo:
    error_code: str  # 1.6 ChargePointErrorCode spelling (e.g. "OtherError", "GroundFailure")
    info: str = ""
    vendor_error_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
