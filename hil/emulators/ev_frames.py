"""Types and outgoing frames of the CHAdeMO car emulator (:mod:`hil.emulators.ev`).

:class:`EvFrameBuilder` turns the car's state into its 100 ms burst: 0x100, 0x101, 0x102, 0x200 (V2H cars) and, on
a ZE1, 0x110 / 0x201 / 0x700 / 0x202, with the start values seen in the logs of reference §5/§6.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chargepoint.chademo.frames import (
    EvBatteryLimits,
    EvChargeTime,
    EvDischargeEstimate,
    EvDischargeLimits,
    EvExtendedFunctions,
    EvFrame,
    EvManufacturerId,
    EvseStatus,
    EvStatus,
    RawFrame,
)
from hil.emulators.battery import Battery
from hil.emulators.ev_profiles import EvProfile

__all__ = ["EvActions", "EvFrameBuilder", "EvFrameOut", "EvPhase"]

_NISSAN_202 = RawFrame(0x202, bytes((1, 1, 1, 0, 0, 0, 0, 0)))
_NISSAN_700_CONTENT = bytes((2, 0, 0, 6, 0, 0, 0))


class EvPhase(StrEnum):
    ASLEEP = "asleep"  # no d1
    HANDSHAKE = "handshake"  # CAN exchange, compatibility, waiting to permit
    PERMITTED = "permitted"  # k + 102.5.0, waiting for d2
    CLOSING = "closing"  # d2 seen, contactors about to close
    CLOSED = "closed"  # contactors closed, first request pending
    CHARGING = "charging"  # requesting / transferring energy
    STOPPING = "stopping"  # request 0, k off, waiting for current <= 5 A and 109.5.0 = 0
    WELDING_CHECK = "welding_check"  # contactors opened, watching the inlet voltage collapse
    DONE = "done"  # 102.5.3 = 1, waiting for d1 to go


EvFrameOut = EvFrame | RawFrame


@dataclass(frozen=True, slots=True)
class EvActions:
    frames: tuple[EvFrameOut, ...] = ()
    k: bool = False
    contactor_closed: bool = False


class EvFrameBuilder:
    """Mixin of :class:`~hil.emulators.ev.EvEmulator`: builds the car's frames from its state."""

    profile: EvProfile
    battery: Battery
    evse_status: EvseStatus | None
    request_a: float
    discharge_limit_a: float
    fault_bits: int
    enabled: bool
    shift_not_park: bool
    system_fault: bool
    contactor_open_flag: bool
    stop_before_charging: bool
    _t_wake: float

    @property
    def negotiated_protocol(self) -> int:
        if self.evse_status is None:
            return self.profile.protocol_number
        return max(1, min(self.profile.protocol_number, self.evse_status.protocol_number))

    def soc_raw(self, now: float) -> int:
        if now - self._t_wake < self.profile.soc_garbage_s:
            return 3
        const = self._ref_const()
        soc = max(0.0, min(100.0, self.battery.soc))
        if const in (0, 100):
            return int(soc)
        return min(255, int(soc * const / 100.0))

    def _ref_const(self) -> int:
        st = self.evse_status
        if st is None:
            return 0xF0
        return 0x64 if st.protocol_number >= 2 else 0xFF

    def _level(self, percent: float) -> int:
        p = self.profile
        if p.soc_levels_in_kwh:
            return min(255, int(percent / 100.0 * p.rated_capacity_wh / 100.0))
        return int(percent)

    def _frames(self, now: float) -> tuple[EvFrameOut, ...]:
        p = self.profile
        known = now - self._t_wake >= 0.7  # levels / capacity / time published after the first frames
        proto2 = self.negotiated_protocol >= 2
        fb = self.fault_bits
        status = EvStatus(
            protocol_number=p.protocol_number,
            target_voltage_v=p.target_voltage_v,
            charge_current_request_a=self.request_a,
            fault_overvoltage=bool(fb & 1),
            fault_undervoltage=bool(fb & 2),
            fault_current_deviation=bool(fb & 4),
            fault_high_temperature=bool(fb & 8),
            fault_voltage_deviation=bool(fb & 16),
            charging_enabled=self.enabled,
            shift_not_park=self.shift_not_park,
            system_fault=self.system_fault,
            contactor_open=self.contactor_open_flag if proto2 else False,
            stop_before_charging=self.stop_before_charging,
            status_bit6=p.status_bit6,
            discharge_compatible=p.v2h,
            soc_percent=self.soc_raw(now),
        )
        out: list[EvFrameOut] = [
            EvBatteryLimits(
                min_charge_current_a=p.min_charge_current_a,
                min_battery_voltage_v=p.min_battery_voltage_v,
                max_battery_voltage_v=p.max_battery_voltage_v,
                charged_rate_ref_const=self._ref_const(),
            ),
            EvChargeTime(
                max_charge_time_10s_s=None,
                max_charge_time_min=p.max_charge_time_min if known else 0xFF,
                est_charge_time_min=0,
                rated_capacity_wh=p.rated_capacity_wh if known else p.initial_rated_capacity_wh,
            ),
            status,
        ]
        if p.v2h:
            out.append(
                EvDischargeLimits(
                    max_discharge_current_a=self.discharge_limit_a,
                    min_discharge_voltage_v=p.min_discharge_voltage_v,
                    min_discharge_level=self._level(p.min_soc_percent) if known else 0xFF,
                    max_charge_level=self._level(p.max_soc_percent) if known else 0xFF,
                )
            )
        if p.sends_extended:
            out.append(EvExtendedFunctions(dynamic_control=True))
        if p.v2h and p.sends_discharge_estimate:
            out.append(EvDischargeEstimate(sequence_number=2))
        if p.sends_manufacturer:
            out.append(EvManufacturerId(p.automaker_code, _NISSAN_700_CONTENT))
            out.append(_NISSAN_202)
        return tuple(out)
