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
        ahead_below: Below this many gate items the candidate must be ahead: a tie, or a loss
            within the margin, is refused. At small n the standard error is too wide to vouch
            for a candidate that is merely not measurably worse (an adapter that always
            answers "0" ties a weak current version often enough to pass otherwise).
    """

    z: float = 1.0
    tolerance: float = 0.0
    min_items: int = 4
    ahead_below: int = 30

    def __post_init__(self) -> None:
        if self.min_items < 1:
            raise ValueError(f"a gate needs at least one item, got min_items={self.min_items}")
