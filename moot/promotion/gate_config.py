"""When a candidate version is promoted: the settings of :mod:`moot.promotion.gate`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateConfig:
    """When a candidate is promoted.

    Attributes:
        z: Standard errors of the paired mean difference a candidate may trail by.
        tolerance: A fixed loss also allowed (in the gate's score units).
        min_items: Fewer gate items than this refuse the candidate (nothing to judge it on).
    """

    z: float = 1.0
    tolerance: float = 0.0
    min_items: int = 4
