"""Several candidate adapter sets per iteration, and the search for the best on validation episodes.

Candidates differ in their learning rate (more knobs can join the same list). Evaluation
episodes are allocated among them adaptively by LUCB, or uniformly, under one stopping
rule (:mod:`moot.selection.bandits`): the search stops once the leader is known, at confidence
``1 - delta``, to be within ``epsilon`` of the best. Episodes are played in blocks of one
candidate, so that they batch on the engine; a block's outcomes are then handed out one by
one, so the allocation is the bandit's, and the episodes a search *played* are what it cost.

Examples:
    >>> outcomes = {"lr=1e-4": [0, 1] * 50, "lr=4e-4": [1, 1, 1, 0] * 25}      # scripted blocks
    >>> play = lambda name, start, count: outcomes[name][start:start + count]
    >>> found = select_candidate(["lr=1e-4", "lr=4e-4"], play, CandidateConfig(count=2, epsilon=0.3), episodes_per_candidate=100)
    >>> found.best, found.played <= 200
    ('lr=4e-4', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Literal, Sequence

from moot.selection.bandits import BestArm, Bounds, TimeUnion, lucb, uniform_best_arm

Allocation = Literal["lucb", "uniform"]


@dataclass(frozen=True)
class CandidateConfig:
    """How many candidates an iteration trains, and how the best is found.

    Attributes:
        count: Candidate adapter sets trained per iteration (1: one, no search).
        learning_rate_factors: Candidate i trains at the LoRA learning rate times factor i
            (the list repeats from the start if there are more candidates than factors).
        allocation: lucb (adaptive: the leader and its strongest challenger get the
            episodes) or uniform (every candidate in turn), under the same stopping rule.
        delta: The chance of a wrong pick the stopping rule allows.
        bounds: The stopping rule's confidence intervals: kl (Chernoff bounds in KL form,
            never wider than Hoeffding's, so the search stops sooner at the same delta) or
            hoeffding.
        time_union: How the error is spread over play counts: horizon (over the at most
            as many episodes as there are problems: a fixed, narrower level) or anytime
            (over every count, a level that grows with the episodes).
        epsilon: A pick within this much accuracy of the best counts as right.
        block: Episodes of one candidate played together (they batch on the engine).
    """

    count: int = 1
    learning_rate_factors: tuple[float, ...] = (1.0, 0.25, 4.0, 0.5, 2.0)
    allocation: Allocation = "lucb"
    delta: float = 0.1
    bounds: Bounds = "kl"
    time_union: TimeUnion = "horizon"
    epsilon: float = 0.05
    block: int = 8

    def __post_init__(self) -> None:
        if self.count < 1 or self.block < 1 or not self.learning_rate_factors:
            raise ValueError(f"candidates need count >= 1, block >= 1 and a factor, got {self.count}, {self.block}, "
                             f"{self.learning_rate_factors}")
        if not 0.0 < self.delta < 1.0 or self.epsilon < 0.0:
            raise ValueError(f"delta must be in (0, 1) and epsilon >= 0, got {self.delta} and {self.epsilon}")

    def learning_rate(self, base: float, candidate: int) -> float:
        """Candidate ``candidate``'s learning rate.

        Examples:
            >>> CandidateConfig(count=3).learning_rate(2e-4, 2)
            0.0008
        """
        return base * self.learning_rate_factors[candidate % len(self.learning_rate_factors)]


@dataclass(frozen=True)
class Selection:
    """The search's result: the pick, the episodes each candidate was scored on, and the episodes played."""

    best: Hashable
    search: BestArm
    played: int


def select_candidate(candidates: Sequence[Hashable], play: Callable[[Hashable, int, int], Sequence[float]],
                     config: CandidateConfig, *, episodes_per_candidate: int) -> Selection:
    """Find the best candidate from ``play(candidate, start, count)`` (the rewards of its next episodes).

    Args:
        candidates: Their names.
        play: Plays episodes ``start .. start + count - 1`` of a candidate (the same problems,
            in the same order, for every candidate) and returns one reward in [0, 1] each.
        config: Allocation, confidence and block size.
        episodes_per_candidate: The problems there are; no candidate is scored on more.
    """
    cache: dict[Hashable, list[float]] = {c: [] for c in candidates}

    def sample(candidate: Hashable, k: int) -> float:
        outcomes = cache[candidate]
        if k >= len(outcomes):
            count = min(config.block, episodes_per_candidate - len(outcomes))
            outcomes.extend(float(r) for r in play(candidate, len(outcomes), count))
        return outcomes[k]

    search = (lucb if config.allocation == "lucb" else uniform_best_arm)(
        list(candidates), sample, delta=config.delta, epsilon=config.epsilon, bounds=config.bounds,
        time_union=config.time_union, budget=len(candidates) * episodes_per_candidate, per_arm_budget=episodes_per_candidate)
    return Selection(search.best, search, sum(len(o) for o in cache.values()))
