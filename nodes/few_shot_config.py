"""Which past calls the retrieval memory (:mod:`moot.nodes.few_shot_memory`) shows a role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class FewShotConfig:
    """Which past calls are shown.

    Attributes:
        k: How many examples (0: off, no memory).
        min_reward: Only calls whose own ``reward`` or whose episode's feedback
            (``episode_reward``) reached this are shown.
        search: ``similarity``, or ``mmr`` for examples that are near and also differ.
        fetch_k: Candidates MMR chooses from.
    """

    k: int = 3
    min_reward: float = 1.0
    search: Literal["similarity", "mmr"] = "similarity"
    fetch_k: int = 20
