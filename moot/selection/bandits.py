"""Upper-confidence-bound exploration: choosing what to try next, and stopping once the best is known.

Two uses in moot, one arithmetic:

- :class:`UCB` picks the next arm to play (an opponent in the self-play league): the arm
  with the highest mean reward plus an exploration bonus that shrinks as the arm is played
  (UCB1, Auer et al. 2002).
- :func:`lucb` identifies the best of several candidates (adapters of one role) with as few
  evaluation episodes as it can: it keeps sampling the empirical leader and its strongest
  challenger until the leader's lower bound clears every other upper bound (LUCB1,
  Kalyanakrishnan et al. 2012), where uniform allocation spends the same episodes on every
  candidate, however clearly it has lost.

Rewards are in [0, 1] (a right answer, a won game). The stopping rule's intervals are
Chernoff bounds in their KL form by default (KL-LUCB, Kaufmann and Kalyanakrishnan 2013),
which are never wider than Hoeffding's and far narrower for accuracies near 0 or 1. They
hold at every play count at once: the error ``delta`` is spread by a union bound over play
counts, either over the at most ``N`` plays an arm can get when that horizon is known
(``horizon``: ``ln(2 n N / delta)``, the default where a search has a per-arm budget) or
over every count with weight ``1/u^2`` (``anytime``: ``ln(4 n u^2 / delta)``, which grows
with the plays).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Callable, Hashable, Literal, Sequence

Bounds = Literal["kl", "hoeffding"]
TimeUnion = Literal["horizon", "anytime"]


def exploration_bonus(plays: int, total_plays: int, c: float = math.sqrt(2)) -> float:
    """UCB1's bonus ``c * sqrt(ln(total) / plays)``; infinite for an arm never played.

    Examples:
        >>> round(exploration_bonus(4, 16, c=1.0), 4)   # sqrt(ln 16 / 4)
        0.8326
        >>> exploration_bonus(16, 64, c=1.0) < exploration_bonus(4, 64, c=1.0)   # decays with plays
        True
    """
    if plays == 0:
        return math.inf
    return c * math.sqrt(math.log(max(total_plays, 1)) / plays)


@dataclass
class ArmStats:
    """Plays and total reward of one arm."""

    plays: int = 0
    reward: float = 0.0

    @property
    def mean(self) -> float:
        return self.reward / self.plays if self.plays else 0.0


@dataclass
class UCB:
    """UCB1 over named arms; new arms can join at any time (a league grows each iteration).

    Examples:
        >>> bandit = UCB(["a", "b"], c=1.0)
        >>> bandit.select()           # unplayed arms first, in order
        'a'
        >>> bandit.update("a", 1.0); bandit.update("b", 0.0); bandit.update("a", 1.0)
        >>> bandit.select()           # a: 1 + sqrt(ln 3 / 2) = 1.74; b: 0 + sqrt(ln 3 / 1) = 1.05
        'a'
        >>> round(bandit.upper_bound("b"), 3)
        1.048
    """

    arms: list[Hashable]
    c: float = math.sqrt(2)
    stats: dict[Hashable, ArmStats] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for arm in self.arms:
            self.stats.setdefault(arm, ArmStats())

    def add(self, arm: Hashable) -> None:
        if arm not in self.stats:
            self.arms.append(arm)
            self.stats[arm] = ArmStats()

    @property
    def total_plays(self) -> int:
        return sum(s.plays for s in self.stats.values())

    def upper_bound(self, arm: Hashable) -> float:
        stats = self.stats[arm]
        return stats.mean + exploration_bonus(stats.plays, self.total_plays, self.c)

    def select(self) -> Hashable:
        """The arm with the highest upper bound (ties: the first in order)."""
        return max(self.arms, key=lambda arm: (self.upper_bound(arm), -self.arms.index(arm)))

    def select_batch(self, n: int) -> list[Hashable]:
        """``n`` picks to play at once: each pick counts as a play with its current mean reward
        (a "virtual" play), so a batch spreads over arms as ``n`` sequential picks would."""
        picks, virtual = [], {arm: ArmStats(s.plays, s.reward) for arm, s in self.stats.items()}
        shadow = UCB(list(self.arms), self.c, virtual)
        for _ in range(n):
            arm = shadow.select()
            shadow.update(arm, shadow.stats[arm].mean)
            picks.append(arm)
        return picks

    def update(self, arm: Hashable, reward: float) -> None:
        stats = self.stats[arm]
        stats.plays += 1
        stats.reward += reward


def _union_level(plays: int, n_arms: int, delta: float, horizon: int | None = None) -> float:
    """The log-level each side of an interval is held to, after ``u`` plays.

    Anytime, ``ln(4 n u^2 / delta)``: ``delta / (2 n u^2)`` of the error on each arm and play
    count (the sum over u stays below ``delta``). With a horizon ``N`` (no arm is played more
    than ``N`` times), ``ln(2 n N / delta)``: ``delta / (n N)`` on each arm and play count.
    """
    if horizon is None:
        return math.log(4 * n_arms * plays ** 2 / delta)
    if plays > horizon:
        raise ValueError(f"{plays} plays exceed the horizon of {horizon} the error was spread over")
    return math.log(2 * n_arms * horizon / delta)


def confidence_radius(plays: int, n_arms: int, delta: float, horizon: int | None = None) -> float:
    """Hoeffding radius ``sqrt(level / (2 u))`` of an arm's mean after ``u`` plays, at the union level.

    Every mean stays inside its interval at every play count at once, with probability at
    least ``1 - delta``, whatever order the arms are played in; so :func:`lucb` and
    :func:`uniform_best_arm` stop under the same guarantee and their costs compare directly.

    Examples:
        >>> round(confidence_radius(10, 4, 0.1), 4)      # sqrt(ln(4 * 4 * 100 / 0.1) / 20)
        0.6957
        >>> round(confidence_radius(10, 4, 0.1, horizon=50), 3)      # sqrt(ln(2 * 4 * 50 / 0.1) / 20)
        0.644
        >>> confidence_radius(40, 4, 0.1) < confidence_radius(10, 4, 0.1)
        True
    """
    if plays == 0:
        return math.inf
    return math.sqrt(_union_level(plays, n_arms, delta, horizon) / (2 * plays))


def kl_bernoulli(p: float, q: float) -> float:
    """``KL(Bernoulli(p) || Bernoulli(q))``, the exponent of the Chernoff bound for a mean in [0, 1].

    Examples:
        >>> round(kl_bernoulli(0.5, 0.25), 4)     # 0.5 ln 2 + 0.5 ln(2/3)
        0.1438
        >>> kl_bernoulli(0.3, 0.3)
        0.0
    """
    tiny = 1e-15
    q = min(max(q, tiny), 1 - tiny)
    return sum(a * math.log(a / b) for a, b in ((p, q), (1 - p, 1 - q)) if a > 0)


def _kl_bound(mean: float, level: float, upward: bool) -> float:
    """The farthest q from ``mean`` (above it or below it) with ``kl(mean, q) <= level``, by bisection."""
    near, far = mean, (1.0 if upward else 0.0)
    if kl_bernoulli(mean, far) <= level:
        return far
    for _ in range(60):
        middle = (near + far) / 2
        near, far = (middle, far) if kl_bernoulli(mean, middle) <= level else (near, middle)
    return near


@functools.lru_cache(maxsize=1 << 16)  # a search asks for the same (mean, plays) many times
def confidence_interval(mean: float, plays: int, n_arms: int, delta: float,
                        bounds: Bounds = "kl", horizon: int | None = None) -> tuple[float, float]:
    """An arm's interval after ``plays`` plays, at the union level of :func:`confidence_radius`.

    ``hoeffding`` is ``mean ± confidence_radius``. ``kl`` keeps the q with
    ``plays * kl(mean, q) <= level`` (a Chernoff bound on each side): by Pinsker's inequality
    it lies inside the Hoeffding interval, with the same guarantee, and it narrows most
    where accuracies sit near 0 or 1. ``horizon``: see :func:`_union_level`.

    Examples:
        >>> low, high = confidence_interval(0.1, 100, 4, 0.1)
        >>> round(low, 3), round(high, 3)
        (0.01, 0.327)
        >>> [round(x, 3) for x in confidence_interval(0.1, 100, 4, 0.1, "hoeffding")]
        [-0.167, 0.367]
    """
    if plays == 0:
        return -math.inf, math.inf
    if bounds == "hoeffding":
        radius = confidence_radius(plays, n_arms, delta, horizon)
        return mean - radius, mean + radius
    level = _union_level(plays, n_arms, delta, horizon) / plays
    return _kl_bound(mean, level, upward=False), _kl_bound(mean, level, upward=True)


@dataclass(frozen=True)
class BestArm:
    """What a best-arm search found, and what it cost."""

    best: Hashable
    plays: dict[Hashable, int]
    means: dict[Hashable, float]
    separated: bool
    """The leader's lower bound cleared every other upper bound less ``epsilon`` (else a budget ran out)."""

    @property
    def episodes(self) -> int:
        return sum(self.plays.values())


def _best_arm(stats: dict[Hashable, ArmStats], delta: float, epsilon: float, bounds: Bounds,
              horizon: int | None) -> tuple[Hashable, Hashable | None, bool]:
    """The empirical leader, its strongest challenger (highest upper bound), and whether the
    leader is known to be within ``epsilon`` of the best."""
    arms = list(stats)
    leader = max(arms, key=lambda a: stats[a].mean)
    others = [a for a in arms if a != leader]
    if not others:
        return leader, None, True
    interval = {a: confidence_interval(stats[a].mean, stats[a].plays, len(arms), delta, bounds, horizon) for a in arms}
    challenger = max(others, key=lambda a: interval[a][1])
    return leader, challenger, interval[leader][0] >= interval[challenger][1] - epsilon


def _play(stats: dict[Hashable, ArmStats], arm: Hashable, sample: Callable[[Hashable, int], float]) -> None:
    stats[arm].reward += sample(arm, stats[arm].plays)
    stats[arm].plays += 1


def _found(stats: dict[Hashable, ArmStats], leader: Hashable, separated: bool) -> BestArm:
    return BestArm(leader, {a: s.plays for a, s in stats.items()}, {a: round(s.mean, 4) for a, s in stats.items()},
                   separated)


def lucb(arms: Sequence[Hashable], sample: Callable[[Hashable, int], float], *, delta: float = 0.1,
         epsilon: float = 0.0, budget: int = 1000, per_arm_budget: int | None = None,
         bounds: Bounds = "kl", time_union: TimeUnion = "horizon") -> BestArm:
    """Find the arm with the highest mean reward, sampling adaptively (LUCB1).

    Args:
        arms: The candidates.
        sample: ``sample(arm, k)`` plays ``arm``'s ``k``-th episode (k = 0, 1, ...) and returns its reward.
        delta: The chance of a wrong pick the stopping rule allows.
        epsilon: A pick within this much of the best counts as right (0: only the best); a
            small tolerance saves most episodes when two candidates are nearly tied.
        budget: The most episodes in all; the empirical leader is returned if it runs out.
        per_arm_budget: The most episodes of one arm (e.g. the problems there are).
        bounds: The stopping rule's intervals (:func:`confidence_interval`): ``kl`` or ``hoeffding``.
        time_union: ``horizon`` spreads the error over ``per_arm_budget`` play counts (when
            one is given; else, as ``anytime``, over every count).

    Examples:
        >>> means = {"weak": 0.1, "strong": 0.9, "middling": 0.3}
        >>> stream = lambda arm, k: float(k % 10 < 10 * means[arm])      # scripted, deterministic rewards
        >>> found = lucb(list(means), stream, delta=0.1)
        >>> found.best, found.separated, found.plays["weak"] < found.plays["strong"]
        ('strong', True, True)
    """
    stats, horizon = {arm: ArmStats() for arm in arms}, per_arm_budget if time_union == "horizon" else None
    for arm in arms:
        _play(stats, arm, sample)
    while True:
        leader, challenger, separated = _best_arm(stats, delta, epsilon, bounds, horizon)
        pair = (leader,) if challenger is None else (leader, challenger)
        exhausted = per_arm_budget is not None and max(stats[a].plays for a in pair) >= per_arm_budget
        if separated or challenger is None or exhausted or sum(s.plays for s in stats.values()) + 2 > budget:
            return _found(stats, leader, separated)
        _play(stats, leader, sample)
        _play(stats, challenger, sample)


def uniform_best_arm(arms: Sequence[Hashable], sample: Callable[[Hashable, int], float], *, delta: float = 0.1,
                     epsilon: float = 0.0, budget: int = 1000, per_arm_budget: int | None = None,
                     bounds: Bounds = "kl", time_union: TimeUnion = "horizon") -> BestArm:
    """The baseline: play every arm in turn, with the same stopping rule as :func:`lucb`.

    Examples:
        >>> means = {"weak": 0.1, "strong": 0.9, "middling": 0.3}
        >>> stream = lambda arm, k: float(k % 10 < 10 * means[arm])
        >>> found = uniform_best_arm(list(means), stream, delta=0.1)
        >>> found.best, found.episodes > lucb(list(means), stream, delta=0.1).episodes
        ('strong', True)
    """
    stats, horizon = {arm: ArmStats() for arm in arms}, per_arm_budget if time_union == "horizon" else None
    while True:
        for arm in arms:
            _play(stats, arm, sample)
        leader, _, separated = _best_arm(stats, delta, epsilon, bounds, horizon)
        exhausted = per_arm_budget is not None and stats[leader].plays >= per_arm_budget
        if separated or exhausted or sum(s.plays for s in stats.values()) + len(arms) > budget:
            return _found(stats, leader, separated)
