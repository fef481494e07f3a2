"""The promotion gate: a candidate adapter is served only if it is not measurably worse than the current one.

Both versions answer the same gate items in the same mixed batches (a :meth:`ModelPool.pinned`
view each), so each item gives a paired difference. From ``ahead_below`` items on, the
candidate passes unless it trails by more than ``tolerance`` plus ``z`` standard errors of
the mean difference (at large n a small loss refuses). Below that the standard error is too
wide to say "not worse", so the candidate must be ahead.

Two gate sets:

* :class:`TaskGate`: held-out problems of a task with answers, played by a protocol;
* :class:`TrafficGate`: a held-out slice of rewarded traffic, scored by how likely each
  version finds the replies that were rewarded (and a correction's text), and how unlikely
  those that were not (the local engine's log-likelihood).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Hashable, Mapping, Protocol as TypingProtocol, Sequence

from moot.selection.candidates import CandidateConfig, Selection, select_candidate
from moot.promotion.gate_config import GateConfig
from moot.nodes.serving.model_pool import LocalModelPool, ModelPool
from moot.evaluation.report import mean_stderr
from moot.stores import ExperienceRecord, Feedback
from moot.evaluation.tasks import Problem
from moot.training.rewarded import episode_rewards


@dataclass(frozen=True)
class GateResult:
    """One gate decision, with what it was based on (kept in the learner's lineage)."""

    promote: bool
    n: int
    current: float
    candidate: float
    difference: float
    stderr: float
    margin: float
    reason: str


def gate_decision(current: Sequence[float], candidate: Sequence[float], config: GateConfig = GateConfig()) -> GateResult:
    """Decide from paired per-item scores of the current and the candidate version.

    Examples:
        >>> gate_decision([1, 0] * 20, [0, 1] * 20).promote     # as many items won as lost at n = 40: even
        True
        >>> gate_decision([1, 1, 0, 1] * 100, [1, 0, 0, 1] * 100).promote   # a loss of 0.25 at n = 400
        False
        >>> gate_decision([1] + [0] * 29, [0] * 30).promote     # one item lost: trails by its s.e. exactly
        True
        >>> gate_decision([0, 0, 0, 0], [0, 0, 0, 0]).reason   # at small n, even a tie is refused
        'even at n=4: below 30 items a candidate must be ahead'
        >>> gate_decision([0, 1, 0, 0], [1, 1, 0, 1]).reason
        'ahead by 0.500 (allowed to trail by 0.289 at n=4)'
    """
    if len(current) != len(candidate):
        raise ValueError(f"paired scores differ in length: {len(current)} and {len(candidate)}")
    n = len(current)
    cur, _ = mean_stderr(current)
    cand, _ = mean_stderr(candidate)
    difference, stderr = mean_stderr([b - a for a, b in zip(current, candidate)])
    margin = config.tolerance + config.z * stderr
    if n < config.min_items:
        return GateResult(False, n, cur, cand, difference, stderr, margin, f"only {n} gate items (need {config.min_items})")
    standing = f"ahead by {difference:.3f}" if difference > 0 else f"trails by {-difference:.3f}" if difference else "even"
    if n < config.ahead_below and difference <= 1e-9:
        reason = f"{standing} at n={n}: below {config.ahead_below} items a candidate must be ahead"
        return GateResult(False, n, cur, cand, difference, stderr, margin, reason)
    # A tie with the margin passes: one lost item of n trails by exactly 1/n, which is also its
    # standard error, so at z = 1 rounding alone would otherwise decide.
    if -difference - margin > 1e-9:
        reason = f"worse by {-difference:.3f} (allowed {margin:.3f} at n={n})"
        return GateResult(False, n, cur, cand, difference, stderr, margin, reason)
    reason = f"{standing} (allowed to trail by {margin:.3f} at n={n})"
    return GateResult(True, n, cur, cand, difference, stderr, margin, reason)


class Gate(TypingProtocol):
    """A gate set: per-item scores of each pool view, the views run side by side."""

    def score(self, views: Sequence[ModelPool]) -> list[list[float]]:
        """One list of per-item scores per view, items in the same order."""
        ...


@dataclass
class TaskGate:
    """Held-out problems of a task, played by a protocol: 1 for a right final answer, else 0.

    Args:
        protocol: The protocol that plays them (any :class:`moot.protocols.Protocol`).
        protocol_config: Its settings (a cheap one, e.g. a single greedy agent, gates fast).
        problems: Problems training never sees (a validation split).
        concurrency: Episodes in flight at once, across both views.
    """

    protocol: Any
    protocol_config: Any
    problems: Sequence[Problem]
    concurrency: int = 32

    def score(self, views: Sequence[ModelPool]) -> list[list[float]]:
        graphs = [self.protocol.build(view, self.protocol_config) for view in views]
        jobs = [(v, p) for p in range(len(self.problems)) for v in range(len(views))]  # interleaved: mixed batches

        def play(job: tuple[int, int]) -> float:
            view, index = job
            problem = self.problems[index]
            try:
                state = graphs[view].invoke({"question": problem.question})
            except Exception:  # noqa: BLE001 - an episode that fails scores 0 for its version
                return 0.0
            return float(self.protocol.final_answer(state) == problem.answer)

        with ThreadPoolExecutor(self.concurrency) as workers:
            scores = list(workers.map(play, jobs))
        return [[scores[i] for i, (v, _) in enumerate(jobs) if v == view] for view in range(len(views))]

    def select(self, views: Mapping[Hashable, ModelPool], config: CandidateConfig) -> Selection:
        """The best of ``views`` on these problems, episodes allocated by the candidate search (in blocks that batch)."""
        def play(name: Hashable, start: int, count: int) -> list[float]:
            return replace(self, problems=self.problems[start:start + count]).score([views[name]])[0]

        return select_candidate(list(views), play, config, episodes_per_candidate=len(self.problems))


@dataclass
class TrafficGate:
    """A held-out slice of rewarded traffic, scored by each version's log-likelihood (local pool only).

    Per record: the mean per-character log-likelihood of the rewarded reply (or of the
    episode's correction, for its last call), negated for a reply whose episode failed.

    Args:
        records: The held-out records (training never sees their episodes).
        feedback: Feedback that rewards them.
        min_reward: An episode at or above it counts as good.
        role: Only this role's calls are scored.
    """

    records: Sequence[ExperienceRecord]
    feedback: Sequence[Feedback]
    min_reward: float
    role: str

    def items(self) -> list[tuple[list[dict[str, str]], str, float]]:
        rewards = episode_rewards(self.records, self.feedback)
        corrections = {f.episode: f.correction for f in sorted(self.feedback, key=lambda f: f.time) if f.correction}
        items = []
        for record in self.records:
            episode = str(record["episode"])
            if record["role"] != self.role or episode not in rewards:
                continue
            if episode in corrections:
                items.append((record.messages, corrections[episode], 1.0))
            else:
                items.append((record.messages, record.text, 1.0 if rewards[episode] >= self.min_reward else -1.0))
        return items

    def score(self, views: Sequence[ModelPool]) -> list[list[float]]:
        if not all(isinstance(view.backend, LocalModelPool) for view in views):
            raise TypeError("a TrafficGate scores likelihoods on the local engine; give a TaskGate on other backends")
        scores: list[list[float]] = []
        for view in views:
            engine, version = view.backend.engine, view.registry.current(self.role)  # type: ignore[attr-defined]
            scores.append([sign * engine.log_likelihood(prompt, reply, version) / max(1, len(reply))
                           for prompt, reply, sign in self.items()])
        return scores

