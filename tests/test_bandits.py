"""UCB arithmetic, opponent selection and best-arm stopping, on scripted reward streams."""

from __future__ import annotations

import math
import random

import pytest

from moot.selection.bandits import (UCB, confidence_interval, confidence_radius, exploration_bonus, kl_bernoulli, lucb,
                          uniform_best_arm)


def test_bounds_match_hand_computation():
    bandit = UCB(["x", "y"], c=2.0)
    for reward in (1.0, 0.0, 1.0):
        bandit.update("x", reward)
    bandit.update("y", 0.0)
    # x: 2/3 + 2 sqrt(ln 4 / 3) ; y: 0 + 2 sqrt(ln 4 / 1)
    assert bandit.upper_bound("x") == pytest.approx(2 / 3 + 2 * math.sqrt(math.log(4) / 3))
    assert bandit.upper_bound("y") == pytest.approx(2 * math.sqrt(math.log(4)))
    assert bandit.select() == "y"   # the under-played arm wins on its bonus
    assert confidence_radius(8, 2, 0.05) == pytest.approx(math.sqrt(math.log(4 * 2 * 64 / 0.05) / 16))


def test_exploration_decays_with_plays():
    bonuses = [exploration_bonus(plays, 100) for plays in (1, 4, 16, 64)]
    assert bonuses == sorted(bonuses, reverse=True) and bonuses[-1] < bonuses[0] / 4
    assert exploration_bonus(0, 100) == math.inf


def test_opponent_selection_favours_the_hardest_opponent_and_still_explores():
    # reward = the opponent beat the current seat; "v2" beats it 80 % of the time
    beats = {"base": 0.1, "v1": 0.3, "v2": 0.8}
    league, rng = UCB(list(beats), c=1.0), random.Random(0)
    for _ in range(40):
        for opponent in league.select_batch(4):
            league.update(opponent, float(rng.random() < beats[opponent]))
    plays = {arm: league.stats[arm].plays for arm in beats}
    assert max(plays, key=plays.get) == "v2" and min(plays.values()) >= 3
    league.add("v3")                       # a new version joins the league ...
    assert league.select() == "v3"         # ... and is tried first


def test_a_batch_spreads_like_sequential_picks():
    league = UCB(["a", "b", "c"])
    assert sorted(league.select_batch(3)) == ["a", "b", "c"]   # every unplayed arm once, not one arm 3 times


@pytest.mark.parametrize("seed", range(5))
def test_lucb_stops_on_the_best_arm_with_fewer_episodes_than_uniform(seed):
    means, rng = {"a": 0.2, "b": 0.5, "c": 0.85, "d": 0.3}, random.Random(seed)
    draws = {arm: [float(rng.random() < m) for _ in range(2000)] for arm, m in means.items()}
    stream = lambda arm, k: draws[arm][k]  # noqa: E731
    adaptive = lucb(list(means), stream, delta=0.05, budget=8000)
    uniform = uniform_best_arm(list(means), stream, delta=0.05, budget=8000)
    assert adaptive.best == uniform.best == "c" and adaptive.separated and uniform.separated
    assert adaptive.episodes < uniform.episodes
    assert adaptive.plays["a"] < adaptive.plays["c"]   # a clear loser stops being sampled early


def test_a_tie_runs_out_of_budget_unless_a_tolerance_is_given():
    stream = lambda arm, k: float(k % 2 == 0)  # noqa: E731  (both arms: 0.5)
    tied = lucb(["a", "b"], stream, budget=2000)
    assert not tied.separated and tied.episodes <= 2000
    assert lucb(["a", "b"], stream, budget=2000, epsilon=0.3).separated


@pytest.mark.parametrize("plays", [1, 5, 30, 300])
def test_kl_intervals_lie_inside_hoeffding_and_meet_their_level(plays):
    level = math.log(4 * 3 * plays ** 2 / 0.1) / plays
    for mean in (0.0, 0.05, 0.3, 0.5, 0.9, 1.0):
        low, high = confidence_interval(mean, plays, 3, 0.1)
        h_low, h_high = confidence_interval(mean, plays, 3, 0.1, "hoeffding")
        assert max(h_low, 0.0) <= low <= mean <= high <= min(h_high, 1.0)
        for edge, end in ((low, 0.0), (high, 1.0)):   # on the level, unless the interval reached 0 or 1
            assert edge == end or kl_bernoulli(mean, edge) == pytest.approx(level, rel=1e-6)


def test_kl_stopping_spends_fewer_episodes_for_the_same_pick():
    # accuracies near the low end, as a small model's are: KL bounds are much narrower there
    means = {"base": 0.05, "a": 0.15, "b": 0.45}
    stream = lambda arm, k: float(random.Random(f"{arm}-{k}").random() < means[arm])  # noqa: E731
    for search in (lucb, uniform_best_arm):
        kl, hoeffding = (search(list(means), stream, delta=0.1, budget=5000, bounds=b) for b in ("kl", "hoeffding"))
        assert kl.best == hoeffding.best == "b" and kl.separated and hoeffding.separated
        assert kl.episodes < hoeffding.episodes


def test_a_known_horizon_gives_a_fixed_level_below_the_anytime_one_once_arms_are_played():
    assert confidence_radius(8, 2, 0.05, horizon=100) == pytest.approx(math.sqrt(math.log(2 * 2 * 100 / 0.05) / 16))
    anytime, horizon = (confidence_interval(0.2, 300, 4, 0.1, "kl", h) for h in (None, 300))
    assert anytime[0] < horizon[0] < 0.2 < horizon[1] < anytime[1]
    with pytest.raises(ValueError, match="exceed the horizon"):
        confidence_interval(0.2, 301, 4, 0.1, "kl", 300)


def test_horizon_intervals_hold_at_every_play_count_at_once():
    # 1,000 streams of 100 Bernoulli(0.3) draws: the share of streams whose mean ever leaves
    # its interval must stay below delta (the union bound makes it far smaller).
    horizon, delta, p = 100, 0.2, 0.3
    interval = {(k, u): confidence_interval(k / u, u, 1, delta, "kl", horizon)
                for u in range(1, horizon + 1) for k in range(u + 1)}
    rng, escaped = random.Random(0), 0
    for _ in range(1000):
        k = 0
        for u in range(1, horizon + 1):
            k += rng.random() < p
            low, high = interval[(k, u)]
            if not low <= p <= high:
                escaped += 1
                break
    assert escaped / 1000 <= delta


def test_a_known_horizon_stops_sooner_for_the_same_pick():
    means = {"base": 0.1, "a": 0.25, "b": 0.45}
    stream = lambda arm, k: float(random.Random(f"{arm}-{k}").random() < means[arm])  # noqa: E731
    for search in (lucb, uniform_best_arm):
        fixed, anytime = (search(list(means), stream, delta=0.1, budget=3000, per_arm_budget=1000, time_union=t)
                          for t in ("horizon", "anytime"))
        assert fixed.best == anytime.best == "b" and fixed.separated and anytime.separated
        assert fixed.episodes < anytime.episodes
