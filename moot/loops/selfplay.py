"""Negotiation self-play: warm start, play, log every turn, train each side, hot-swap, measure honestly.

The base that self-play starts from is the embedded model plus a **warm-start adapter**
trained on scripted games that show the action format (see
:mod:`moot.training.negotiation_warm_start`); ``warm_start.games=0`` starts from the bare
model. Each seat then goes on training its own copy of that adapter on its kept turns.

Improvement is measured against a **frozen base opponent**: the trained player takes each
seat in turn against the base (which never trains), and is compared with the base playing
itself, on the same number of games.

With ``league="ucb"`` a seat does not only play the other seat's latest version while it
learns: each game's opponent is drawn from every version the other seat has produced, by
UCB on how often that version beats the learner (:mod:`moot.selection.bandits`). ``robustness_games``
then scores each final seat against every one of those versions, not just the last.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from matplotlib.ticker import MaxNLocator
from rich.console import Console
from rich.table import Table

from moot.selection.bandits import UCB
from moot.protocols import NEGOTIATION
from moot.nodes.serving.model_pool import ModelPool
from moot.nodes.negotiation import NegotiationConfig
from moot.nodes.negotiation_rules import game_spec
from moot.evaluation.report import RunReport, mean_stderr, pyplot
from moot.runs.folder import RunMode
from moot.runs.driver import RunDriver, episode_id
from moot.loops.selfplay_config import SelfPlayConfig
from moot.training.negotiation_warm_start import warm_start_examples

FROZEN_BASE = "frozen-base"  # a role that is never trained: the base self-play starts from
WARM_START = "warm-start"


@dataclass(frozen=True)
class SeatResult:
    """How one seat fared in one pairing: means with standard errors over games."""

    iteration: int
    pairing: str
    seat: str
    games: int
    mean_utility: float
    utility_se: float
    win_rate: float
    win_se: float
    deal_rate: float
    invalid_rate: float
    opponent: str = FROZEN_BASE
    """The version of the other seat it played: the frozen base, or in a robustness pairing
    one of that seat's versions (``base``, ``it1``, ...)."""


def seat_result(iteration: int, pairing: str, seat: str, states: list[dict | None],
                opponent: str = FROZEN_BASE) -> SeatResult:
    """Summarize ``seat``'s games against ``opponent``; a crashed game counts as no deal, zero utility, a loss."""
    utilities, wins, deals, invalid, turns = [], [], [], 0, 0
    for state in states:
        if state is None:
            state = {"utilities": {seat: 0.0, "": 1.0}, "deal": False, "turns": []}
        mine = state["utilities"][seat]
        theirs = next(v for k, v in state["utilities"].items() if k != seat)
        utilities.append(mine)
        wins.append(float(mine > theirs))
        deals.append(float(state["deal"]))
        own = [t for t in state["turns"] if t["player"] == seat]
        turns += len(own)
        invalid += sum(not t["valid"] for t in own)
    utility, utility_se = mean_stderr(utilities)
    win, win_se = mean_stderr(wins)
    return SeatResult(iteration, pairing, seat, len(states), round(utility, 3), round(utility_se, 3), round(win, 3),
                      round(win_se, 3), round(sum(deals) / max(1, len(deals)), 3), round(invalid / max(1, turns), 3),
                      opponent)


@dataclass
class SelfPlayReport(RunReport):
    """What one self-play run measured: each seat against the frozen base, per iteration."""

    stem: ClassVar[str] = "selfplay_report"

    game: str
    results: list[SeatResult] = field(default_factory=list)
    """Per iteration, each seat against the frozen base (iteration 0: the base against itself)."""
    league: dict[str, Any] = field(default_factory=dict)
    """Per iteration and learning seat: games against each opponent version, and how many that version won."""
    robustness: list[SeatResult] = field(default_factory=list)
    """Each final seat against every version of the other seat (``opponent``: the version)."""

    def restore(self, snapshot: dict[str, Any]) -> None:
        super().restore({**snapshot, "results": [SeatResult(**r) for r in snapshot["results"]],
                         "robustness": [SeatResult(**r) for r in snapshot.get("robustness", [])]})

    def plot(self, path: Path) -> Path:
        plt = pyplot()
        fig, axes = plt.subplots(1, 3 if self.robustness else 2, figsize=(15 if self.robustness else 10, 4))
        seats = sorted({r.seat for r in self.results})
        for seat in seats:
            rows = sorted((r for r in self.results if r.seat == seat), key=lambda r: r.iteration)
            x = [r.iteration for r in rows]
            axes[0].errorbar(x, [r.win_rate for r in rows], yerr=[r.win_se for r in rows], marker="o", capsize=4, label=seat)
            axes[1].errorbar(x, [r.mean_utility for r in rows], yerr=[r.utility_se for r in rows], marker="o", capsize=4, label=seat)
        for ax, title in zip(axes, ("win rate vs frozen base", "mean utility vs frozen base")):
            ax.set_xlabel("iteration (0 = base vs base)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title)
            ax.legend()
        if self.robustness:
            self._heat_map(axes[2])
        fig.suptitle(f"{self.game} self-play (±1 s.e.)")
        return self._save_figure(fig, path)

    def _heat_map(self, ax: Any) -> None:
        seats = sorted({r.seat for r in self.robustness})
        rate = {(r.seat, r.opponent): r.win_rate for r in self.robustness}  # one column per version of the other seat
        versions = list(dict.fromkeys(version for _, version in rate))
        grid = [[rate.get((seat, version), math.nan) for version in versions] for seat in seats]
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="RdYlGn")
        for i, row in enumerate(grid):
            for j, value in enumerate(row):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center")
        ax.set_xticks(range(len(versions)), versions)
        ax.set_xlabel("version of the other seat")
        ax.set_yticks(range(len(seats)), [f"final {s}" for s in seats])
        ax.set_title(f"final seat's win rate, n={self.robustness[0].games} each")
        ax.figure.colorbar(image, ax=ax)

    def table(self) -> Table:
        table = Table(title=f"{self.game}: each seat against a frozen base opponent")
        for column in ("iteration", "pairing", "seat", "games", "win rate", "mean utility", "deal rate", "invalid actions"):
            table.add_column(column)
        for r in (*self.results, *self.robustness):
            table.add_row(str(r.iteration), r.pairing, r.seat, str(r.games), f"{r.win_rate:.2f} ± {r.win_se:.2f}",
                          f"{r.mean_utility:.1f} ± {r.utility_se:.1f}", f"{r.deal_rate:.2f}", f"{r.invalid_rate:.2f}")
        return table


class SelfPlayRun(RunDriver[SelfPlayReport]):
    """One self-play run (see :class:`~moot.runs.driver.RunDriver` for what every loop shares).

    Args:
        mode: ``new``, ``resume`` (continue at the first unfinished phase and game) or
            ``overwrite``.
    """

    def __init__(self, config: SelfPlayConfig, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new"):
        overrides = {} if config.max_turns is None else {"max_turns": config.max_turns}
        self.spec = game_spec(config.game, config.variant, **overrides)
        self.adapters: dict[str, Path] = {}  # each seat's current adapter folder, to go on training from
        super().__init__(config, pool, console, mode)

    def new_report(self, settings: dict[str, Any]) -> SelfPlayReport:
        return SelfPlayReport(str(self.run_dir), self.spec.name, config=settings)

    def _negotiation(self, seats: dict[str, str]) -> NegotiationConfig:
        return NegotiationConfig(self.spec, seats, temperature=self.config.temperature, max_tokens=self.config.max_tokens,
                                 constrain_actions=self.config.constrain_actions)

    def play_games(self, seats: dict[str, str], games: int | list[str], *, split: str, iteration: int,
                   label: str) -> list[dict | None]:
        """Play ``games`` (a count, or the games' item names) with ``seats`` (seat -> pool role)."""
        graph = NEGOTIATION.build(self.pool, self._negotiation(seats))
        names = [f"game-{g}" for g in range(games)] if isinstance(games, int) else games
        items = self.unplayed(names, iteration=iteration, split=split, label=label)
        metadata = [self.episode_metadata(iteration=iteration, split=split, label=label, item=item,
                                          protocol=NEGOTIATION.name, task=self.spec.name) for item in items]
        return self.play(graph, [{} for _ in items], metadata, NEGOTIATION.annotators, f"{label} (iteration {iteration})")

    def evaluate(self, iteration: int) -> None:
        players = self.spec.players
        if iteration == 0:
            states = self.play_games({p: FROZEN_BASE for p in players}, self.config.eval_games, split="eval",
                                     iteration=0, label="base vs base")
            pairs = [(p, "base vs base", states) for p in players]
        else:
            pairs = []
            for seat in players:
                seats = {p: (seat if p == seat else FROZEN_BASE) for p in players}
                label = f"trained {seat} vs frozen base"
                pairs.append((seat, label, self.play_games(seats, self.config.eval_games, split="eval",
                                                           iteration=iteration, label=label)))
        for seat, label, states in pairs:
            result = seat_result(iteration, label, seat, states)
            self.report.results.append(result)
            self.console.print(f"{label}: {seat} win {result.win_rate:.2f}±{result.win_se:.2f}, utility "
                               f"{result.mean_utility:.1f}±{result.utility_se:.1f}, deals {result.deal_rate:.2f}, "
                               f"invalid {result.invalid_rate:.2f}")

    def versions(self, seat: str, before: int) -> dict[str, str]:
        """``seat``'s versions from before iteration ``before``, oldest first: name -> the pool role serving it.

        The latest is the seat's own role; earlier ones are served under ``<seat>-it<k>``.
        """
        trained = [k for k in range(1, before) if (self.adapters_dir(k) / seat / "moot_manifest.json").is_file()]
        versions = {"base": FROZEN_BASE}  # the warm start, or (never published) the bare model
        for k in trained:
            role = seat if k == trained[-1] else f"{seat}-it{k}"
            if role != seat and self.pool.registry.current(role) is None:
                self.pool.publish(role, self.adapters_dir(k) / seat)
            versions[f"it{k}"] = role
        return versions

    def play_league(self, iteration: int) -> None:
        """Self-play games in which one seat learns against opponents drawn by UCB from the other's versions."""
        players, block = self.spec.players, self.config.league_block
        opponents = {learner: self.versions(self.spec.other(learner), iteration) for learner in players}
        bandits = {learner: UCB(list(versions), c=self.config.league_c) for learner, versions in opponents.items()}
        for round_ in range(math.ceil(self.config.games / block)):
            pairings = defaultdict(list)
            for learner in players:
                for k, version in enumerate(bandits[learner].select_batch(block // len(players) or 1)):
                    pairings[(learner, version)].append(f"r{round_}-{learner}-{k}")
            for (learner, version), items in pairings.items():
                seats = {learner: learner, self.spec.other(learner): opponents[learner][version]}
                states = self.play_games(seats, items, split="train", iteration=iteration, label="league")
                for item, state in zip(items, states):
                    bandits[learner].update(version, 1.0 - self._learner_won(learner, state, iteration, item))
        self.report.league[f"it{iteration}"] = {
            learner: {version: {"games": s.plays, "opponent_won": round(s.mean, 3)} for version, s in bandit.stats.items()}
            for learner, bandit in bandits.items()}
        for learner, bandit in bandits.items():
            self.console.print(f"league, iteration {iteration}, {learner} learning against: " + ", ".join(
                f"{v} {s.plays} games (won {s.mean:.2f})" for v, s in bandit.stats.items()))

    def _learner_won(self, learner: str, state: dict | None, iteration: int, item: str) -> float:
        """Whether ``learner`` won a league game: from its final state, or (played before a resume) its records."""
        if state is not None:
            mine = state["utilities"][learner]
            return float(all(mine > v for k, v in state["utilities"].items() if k != learner))
        episode = episode_id("train", "league", iteration, item)
        turns = self.library.find(run=self.run_id, episode=episode, role=learner)
        return float(bool(turns) and bool(turns[0]["won"]))

    def evaluate_robustness(self, iteration: int) -> None:
        """Each final seat against every version of the other seat, ``robustness_games`` games each."""
        for seat in self.spec.players:
            other = self.spec.other(seat)
            for version, role in self.versions(other, iteration + 1).items():
                label = f"vs {other} {version}"
                states = self.play_games({seat: seat, other: role}, self.config.robustness_games, split="eval",
                                         iteration=iteration, label=f"final {seat} {label}")
                self.report.robustness.append(seat_result(iteration, label, seat, states, opponent=version))

    def warm_start(self) -> None:
        """Train one adapter on scripted games (both seats' turns)."""
        warm = self.config.warm_start
        examples = warm_start_examples(self._negotiation({}), warm)
        lora = replace(self.config.lora, epochs=warm.epochs, learning_rate=warm.learning_rate)
        self.train({WARM_START: examples}, [WARM_START], 0, lora, publish=False)

    def serve_warm_start(self) -> None:
        """Serve the warm-start adapter as the frozen base and as every seat's start."""
        folder = self.adapters_dir(0) / WARM_START
        self.pool.publish(FROZEN_BASE, folder)
        for seat in self.spec.players:
            self.pool.publish(seat, folder)
            self.adapters[seat] = folder

    def train_seats(self, iteration: int) -> None:
        """Each seat goes on training its own adapter on its kept turns."""
        records = self.library.find(run=self.run_id, iteration=iteration, split="train")
        sets = NEGOTIATION.training_sets(records, self.config.curation, self.config.lora)
        self.train(sets, list(self.spec.players), iteration, self.config.lora, init_adapters=self.adapters)

    def run(self) -> SelfPlayReport:
        players = self.spec.players
        if self.config.warm_start.games > 0:
            self.phase("warm start", self.warm_start)
            self.serve_warm_start()
        self.phase("eval_it0", lambda: self.evaluate(0))
        for iteration in range(1, self.config.iterations + 1):
            if self.config.league == "ucb":
                self.phase(f"play_it{iteration}", lambda: self.play_league(iteration))
            else:
                self.phase(f"play_it{iteration}", lambda: self.play_games(
                    {p: p for p in players}, self.config.games, split="train", iteration=iteration, label="self-play"))
            if self.phase(f"train_it{iteration}", lambda: self.train_seats(iteration)):
                self.republish(iteration)
            self.adapters.update(self.trained(iteration))
            self.phase(f"eval_it{iteration}", lambda: self.evaluate(iteration))
        if self.config.robustness_games > 0:
            self.phase("robustness", lambda: self.evaluate_robustness(self.config.iterations))
        return self.finish()


def selfplay(config: SelfPlayConfig = SelfPlayConfig(), pool: ModelPool | None = None, console: Console | None = None,
             mode: RunMode = "new") -> SelfPlayReport:
    """Run negotiation self-play and return its report (also saved in the run folder).

    ``mode``: ``new``, ``resume`` or ``overwrite`` (see :class:`SelfPlayRun`).
    """
    return SelfPlayRun(config, pool, console, mode).run()
