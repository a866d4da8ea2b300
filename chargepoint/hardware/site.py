"""Emulated site meter (:class:`~chargepoint.hardware.interfaces.SiteMeter`) for simulators, tests and the embedded
default.

The site draws ``base_load_w`` (the building; negative = local generation fed into the grid) plus whatever the
station's EVSEs draw (``evse_power_w``, bound by the energy manager to the sum of their metered power), at grid
frequency ``frequency_hz``. Tests and the harness change the two attributes at will; ``available = False`` makes the
meter report nothing (a lost meter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from chargepoint.hardware.interfaces import SiteReading

__all__ = ["EmulatedSiteMeter"]


@dataclass
class EmulatedSiteMeter:
    base_load_w: float = 0.0
    frequency_hz: float | None = 50.0
    evse_power_w: Callable[[], float] | None = None  # the station's own (signed) power; None = not counted
    available: bool = True

    def read(self, now: float) -> SiteReading | None:
        if not self.available:
            return None
        own = self.evse_power_w() if self.evse_power_w is not None else 0.0
        total = self.base_load_w + own
        if not math.isfinite(total):
            return None
        return SiteReading(total, self.frequency_hz)
