"""Traction-battery model for the HIL car emulators (protocol-free).

A single equivalent circuit: open-circuit voltage (OCV) looked up from a table against state of charge, in
series with one internal resistance. Sign convention as everywhere in the project: positive current flows
*into* the battery (charging), negative current flows out of it (discharging, V2H).

* ``terminal_voltage(i) = ocv(soc) + i * r_internal`` (charging raises the terminal voltage, discharging
  sags it).
* SoC is integrated in ampere-hours (coulombic model). The amp-hour capacity is derived from the nominal
  energy and the mean OCV over the whole table, so that a slow 0 -> 100 % charge stores exactly
  ``capacity_wh``. Charging charge is scaled by ``coulombic_efficiency``; discharging charge counts in full.
* CC/CV taper: :meth:`Battery.max_charge_current` returns the largest current that keeps the terminal
  voltage at or below a limit; a car emulator requests ``min(cc_limit, max_charge_current(v_cv))`` and so
  tapers naturally.

The only randomness is an optional Gaussian voltage-sensor noise (``sensor_noise_v``), drawn from a private
``random.Random(seed)``: a given seed always produces the same run. The physics itself is deterministic.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "LEAF_OCV_TABLE",
    "Battery",
    "BatteryError",
    "OcvTable",
]


class BatteryError(ValueError):
    """Invalid battery parameters or operation."""


@dataclass(frozen=True, slots=True)
class OcvTable:
    """Open-circuit voltage of the pack against SoC, linearly interpolated.

    ``points`` are ``(soc_percent, volts)`` pairs, strictly increasing in SoC, covering 0 to 100 %, with OCV
    non-decreasing in SoC.
    """

    points: tuple[tuple[float, float], ...]
    _socs: tuple[float, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise BatteryError("an OCV table needs at least two points")
        socs = [p[0] for p in self.points]
        volts = [p[1] for p in self.points]
        if socs[0] != 0.0 or socs[-1] != 100.0:
            raise BatteryError("OCV table must span 0..100 % SoC")
        if any(b <= a for a, b in itertools.pairwise(socs)):
            raise BatteryError("OCV table SoC points must be strictly increasing")
        if any(b < a for a, b in itertools.pairwise(volts)):
            raise BatteryError("OCV must not decrease with SoC")
        if volts[0] <= 0:
            raise BatteryError("OCV must be positive")
        object.__setattr__(self, "_socs", tuple(socs))

    @classmethod
    def of(cls, points: Sequence[tuple[float, float]]) -> OcvTable:
        return cls(tuple((float(s), float(v)) for s, v in points))

    @property
    def socs(self) -> tuple[float, ...]:
        return tuple(p[0] for p in self.points)

    def voltage(self, soc_percent: float) -> float:
        """OCV at ``soc_percent`` (clamped to the table)."""
        pts = self.points
        if soc_percent <= 0.0:
            return pts[0][1]
        if soc_percent >= 100.0:
            return pts[-1][1]
        i = bisect.bisect_right(self._socs, soc_percent)
        s0, v0 = pts[i - 1]
        s1, v1 = pts[i]
        return v0 + (v1 - v0) * (soc_percent - s0) / (s1 - s0)

    def soc_at(self, volts: float) -> float:
        """Inverse lookup: the lowest SoC (percent) whose OCV reaches ``volts`` (clamped to 0..100)."""
        pts = self.points
        if volts <= pts[0][1]:
            return 0.0
        if volts >= pts[-1][1]:
            return 100.0
        for (s0, v0), (s1, v1) in itertools.pairwise(pts):
            if v0 <= volts <= v1:
                if v1 == v0:
                    return s0
                return s0 + (s1 - s0) * (volts - v0) / (v1 - v0)
        return 100.0  # pragma: no cover - unreachable for a monotonic table

    def mean_voltage(self) -> float:
        """Mean OCV over 0..100 % SoC (trapezoidal integral / 100)."""
        area = 0.0
        for (s0, v0), (s1, v1) in itertools.pairwise(self.points):
            area += (s1 - s0) * (v0 + v1) / 2.0
        return area / 100.0


# Nissan LEAF pack (96 cells in series, NMC/LMO): ~3.1 V/cell empty to ~4.15 V/cell full.
LEAF_OCV_TABLE = OcvTable.of(
    [
        (0.0, 300.0),
        (5.0, 330.0),
        (10.0, 343.0),
        (20.0, 353.0),
        (30.0, 359.0),
        (40.0, 364.0),
        (50.0, 369.0),
        (60.0, 375.0),
        (70.0, 381.0),
        (80.0, 387.0),
        (90.0, 393.0),
        (100.0, 398.0),
    ]
)


class Battery:
    """Equivalent-circuit traction battery.

    Args:
        capacity_wh: usable energy between 0 % and 100 % SoC at zero current.
        soc: initial state of charge in percent (0..100).
        ocv_table: OCV against SoC.
        r_internal: series resistance in ohms.
        v_max: highest permitted terminal voltage (cell protection); the CV limit defaults to it.
        v_min: lowest permitted terminal voltage during discharge (defaults to the OCV at 0 %).
        coulombic_efficiency: fraction of the charging charge that is stored (0 < eta <= 1).
        sensor_noise_v: standard deviation of the noise added by :meth:`measured_voltage`.
        seed: seed of the private random generator (sensor noise only).
    """

    __slots__ = (
        "_charge_ah",
        "_rng",
        "capacity_ah",
        "capacity_wh",
        "coulombic_efficiency",
        "energy_in_wh",
        "energy_out_wh",
        "ocv_table",
        "r_internal",
        "sensor_noise_v",
        "v_max",
        "v_min",
    )

    def __init__(
        self,
        capacity_wh: float,
        soc: float,
        ocv_table: OcvTable = LEAF_OCV_TABLE,
        r_internal: float = 0.1,
        v_max: float = 403.0,
        v_min: float | None = None,
        coulombic_efficiency: float = 0.995,
        sensor_noise_v: float = 0.0,
        seed: int = 0,
    ) -> None:
        if capacity_wh <= 0:
            raise BatteryError("capacity_wh must be positive")
        if not 0.0 <= soc <= 100.0:
            raise BatteryError("soc must be within 0..100 %")
        if r_internal < 0:
            raise BatteryError("r_internal must not be negative")
        if not 0.0 < coulombic_efficiency <= 1.0:
            raise BatteryError("coulombic_efficiency must be in (0, 1]")
        if sensor_noise_v < 0:
            raise BatteryError("sensor_noise_v must not be negative")
        self.capacity_wh = float(capacity_wh)
        self.ocv_table = ocv_table
        self.r_internal = float(r_internal)
        self.v_max = float(v_max)
        self.v_min = float(v_min) if v_min is not None else ocv_table.voltage(0.0)
        if self.v_min >= self.v_max:
            raise BatteryError("v_min must be below v_max")
        self.coulombic_efficiency = float(coulombic_efficiency)
        self.sensor_noise_v = float(sensor_noise_v)
        self.capacity_ah = self.capacity_wh / ocv_table.mean_voltage()
        self._charge_ah = self.capacity_ah * soc / 100.0
        self.energy_in_wh = 0.0  # at the terminals, monotonic
        self.energy_out_wh = 0.0
        self._rng = random.Random(seed)

    # ---- state ------
    @property
    def soc(self) -> float:
        """State of charge in percent (0..100)."""
        return round(100.0 * self._charge_ah / self.capacity_ah, 9)  # no 99.99999999 for a full pack

    @property
    def stored_wh(self) -> float:
        """Energy stored above 0 % SoC (integral of OCV over charge)."""
        soc = self.soc
        area = 0.0
        for (s0, v0), (s1, _v1) in itertools.pairwise(self.ocv_table.points):
            if soc <= s0:
                break
            hi = min(s1, soc)
            vh = self.ocv_table.voltage(hi)
            area += (hi - s0) * (v0 + vh) / 2.0
        return area / 100.0 * self.capacity_ah

    def ocv(self) -> float:
        return self.ocv_table.voltage(self.soc)

    def terminal_voltage(self, current_a: float = 0.0) -> float:
        """Terminal voltage with ``current_a`` flowing (+ charging)."""
        return self.ocv() + current_a * self.r_internal

    def measured_voltage(self, current_a: float = 0.0) -> float:
        """Terminal voltage as a noisy sensor sees it (deterministic for a given seed)."""
        v = self.terminal_voltage(current_a)
        if self.sensor_noise_v > 0:
            v += self._rng.gauss(0.0, self.sensor_noise_v)
        return v

    # ---- limits ------
    def max_charge_current(self, v_limit: float | None = None) -> float:
        """Largest charging current (A, >= 0) keeping the terminal voltage <= ``v_limit`` (default v_max).

        This is the CV part of a CC/CV charge: it falls towards 0 as the OCV approaches the limit.
        """
        limit = self.v_max if v_limit is None else min(v_limit, self.v_max)
        headroom = limit - self.ocv()
        if headroom <= 0:
            return 0.0
        if self.r_internal == 0:
            return float("inf")
        return headroom / self.r_internal

    def max_discharge_current(self, v_floor: float | None = None) -> float:
        """Largest discharging current magnitude (A, >= 0) that keeps the terminal voltage >= ``v_floor``."""
        floor = self.v_min if v_floor is None else max(v_floor, self.v_min)
        headroom = self.ocv() - floor
        if headroom <= 0 or self.soc <= 0.0:
            return 0.0
        if self.r_internal == 0:
            return float("inf")
        return headroom / self.r_internal

    def cc_cv_current(self, cc_limit_a: float, v_cv: float | None = None) -> float:
        """CC/CV charging current: ``min(cc_limit_a, max_charge_current(v_cv))``, never negative."""
        return max(0.0, min(cc_limit_a, self.max_charge_current(v_cv)))

    # ---- dynamics ------
    def step(self, current_a: float, dt: float) -> float:
        """Let ``current_a`` (+ charging) flow for ``dt`` seconds; return the terminal voltage meanwhile.

        SoC is clamped to 0..100 %: a full battery absorbs no more charge, an empty one delivers no more.
        """
        if dt < 0:
            raise BatteryError("dt must not be negative")
        v = self.terminal_voltage(current_a)
        if dt == 0 or current_a == 0:
            return v
        delta_ah = current_a * dt / 3600.0
        if current_a > 0:
            delta_ah *= self.coulombic_efficiency
            self.energy_in_wh += max(0.0, v * current_a * dt / 3600.0)
        else:
            self.energy_out_wh += max(0.0, -v * current_a * dt / 3600.0)
        self._charge_ah = min(self.capacity_ah, max(0.0, self._charge_ah + delta_ah))
        return v

    def __repr__(self) -> str:
        return (
            f"Battery(capacity_wh={self.capacity_wh:.0f}, soc={self.soc:.2f}, ocv={self.ocv():.1f} V, "
            f"r_internal={self.r_internal})"
        )
