"""A run's metric: its name, direction and bounds, and the utility the search works on.

Standard library only: the command line's reports and the UI convert a stored utility back
into the metric without importing the engine's numeric stack (engine.objective re-exports it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAXIMIZE, MINIMIZE = "maximize", "minimize"


@dataclass(frozen=True)
class Metric:
    """What an objective reports, and how it maps onto a utility (higher is better): for
    maximize, u = (v - lo) / (hi - lo); for minimize, u = (hi - v) / (hi - lo)."""

    name: str = "val_accuracy"
    direction: str = MAXIMIZE
    bounds: tuple[float, float] = (0.0, 1.0)

    def utility(self, value: float) -> float:
        lo, hi = self.bounds
        if self.direction == MAXIMIZE:
            return (value - lo) / (hi - lo)
        return (hi - value) / (hi - lo)

    def value(self, utility: float) -> float:
        """The metric of a utility: the inverse of `utility`, for display."""
        lo, hi = self.bounds
        if self.direction == MAXIMIZE:
            return lo + utility * (hi - lo)
        return hi - utility * (hi - lo)

    def value_format(self) -> str:
        """How a value is shown: 4 decimals for a metric of the size of an accuracy, fewer
        the larger its bounds, so that values show 4 or 5 digits (`.4f`, `.2f`)."""
        size = max(abs(b) for b in self.bounds)
        if not size or not math.isfinite(size):
            return ".4f"
        return f".{max(0, 4 - max(0, math.floor(math.log10(size))))}f"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "direction": self.direction, "bounds": list(self.bounds)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Metric:
        if not data:
            return cls()
        lo, hi = data.get("bounds", (0.0, 1.0))
        return cls(str(data["name"]), str(data["direction"]), (float(lo), float(hi)))
