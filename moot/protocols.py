"""Protocols the improve loop can run: each is a graph plus how to judge, curate and repair it.

The loop is written once; a protocol says how to build its graph, how to annotate logged
outputs with outcomes, how to turn the library into per-role training sets, and (for
SiriuS augmentation) how to find failed trajectories and re-run them from a repaired step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.chain import build_chain_graph, chain_outcome
from moot.graphs.critique import build_critique_graph, critique_outcome
from moot.graphs.debate import build_debate_graph, debate_outcome
from moot.nodes.answers import safe_parse
from moot.nodes.chain import ChainConfig, StepOutput
from moot.nodes.critique import Attempt, CritiqueConfig
from moot.nodes.debate import DebateConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.report import Score
from moot.stores import Annotator, ExperienceRecord
from moot.tasks import Problem
from moot.training import CurationConfig, TrainingExample, chain_training_sets, critique_training_sets, debate_training_sets
from moot.augmentation import FailedTrajectory, Rerun, Step


@dataclass(frozen=True)
class Protocol:
    """How the improve loop plays, judges, learns from and repairs one kind of graph."""

    name: str
    build: Callable[[ModelPool, Any], CompiledStateGraph]
    annotate: Annotator
    curate: Callable[[list[ExperienceRecord], CurationConfig], dict[str, list[TrainingExample]]]
    nodes: Callable[[Any], list[str]]
    """Node names whose records form trajectories (for repair)."""
    single_agent_learns: bool = False
    """Whether the single-agent baseline runs a role that gets an adapter (then it is re-scored)."""
    repairable: bool = False
    extra_scores: Callable[[str, list[dict | None], list[Problem], int], list[Score]] = lambda *args: []

    def roles(self, config: Any) -> list[str]:
        return config.all_roles()

    def final_answer(self, state: dict[str, Any]) -> str | None:
        return state.get("final_answer")

    def failed_trajectories(self, records: list[ExperienceRecord], config: Any) -> list[FailedTrajectory]:
        """Logged episodes that ended wrong, as steps in order (original plays only)."""
        nodes = set(self.nodes(config))
        episodes: dict[str, list[ExperienceRecord]] = defaultdict(list)
        for record in records:
            if record["node"] in nodes and not record["augmented"] and record["final_correct"] is False and "error" not in record.metadata:
                episodes[str(record["episode"])].append(record)
        failed = []
        for episode, steps in sorted(episodes.items()):
            steps.sort(key=lambda r: (int(r["round"] or 0), str(r["node"])))
            first = steps[0].metadata
            context = {k: first[k] for k in ("run", "iteration", "task", "protocol", "split", "setting", "problem_id", "target", "question") if k in first}
            failed.append(FailedTrajectory(episode, str(first.get("question", "")), str(first.get("target", "")),
                                           [Step(str(r["role"]), int(r["round"] or 0), r.messages, r.text) for r in steps], context))
        return failed

    def rerun(self, pool: ModelPool, config: Any) -> Rerun:
        graph = self.build(pool, config)

        def run(question: str, before: list[Step], repaired: Step, callbacks: list, metadata: dict[str, Any]) -> str | None:
            state = graph.invoke({"question": question, **self.resume_state(config, [*before, repaired])},
                                 {"callbacks": callbacks, "metadata": metadata})
            return self.final_answer(state)

        return run

    def resume_state(self, config: Any, steps: list[Step]) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} cannot resume from a repaired step")


class _Chain(Protocol):
    def resume_state(self, config: ChainConfig, steps: list[Step]) -> dict[str, Any]:
        return {"outputs": [StepOutput(index=s.index, role=s.role, text=s.text) for s in steps]}


class _Critique(Protocol):
    def failed_trajectories(self, records: list[ExperienceRecord], config: CritiqueConfig) -> list[FailedTrajectory]:
        # Only the actor's first answer is repaired; the judge (and critic) are re-run on it.
        trajectories = super().failed_trajectories(records, config)
        return [FailedTrajectory(t.episode, t.question, t.target, [s for s in t.steps if s.role == "actor" and s.index == 0], t.context)
                for t in trajectories]

    def resume_state(self, config: CritiqueConfig, steps: list[Step]) -> dict[str, Any]:
        (actor,) = steps
        return {"attempts": [Attempt(index=0, text=actor.text, answer=safe_parse(config.parser, actor.text))]}


def _critique_scores(split: str, states: list[dict | None], problems: list[Problem], iteration: int) -> list[Score]:
    """SiriuS's judge metrics: verdict accuracy, and answers both right and judged right."""
    judged, true_positive = [], []
    for state, problem in zip(states, problems):
        if state is None:
            judged.append(False)
            true_positive.append(False)
            continue
        right = state.get("final_answer") == problem.answer
        judged.append(bool(state.get("final_verdict")) == right)
        true_positive.append(right and bool(state.get("final_verdict")))
    suffix = "base" if iteration == 0 else f"iteration {iteration}"
    return [Score.of(f"judge accuracy ({suffix})", judged, iteration), Score.of(f"true-positive accuracy ({suffix})", true_positive, iteration)]


DEBATE = Protocol(
    name="debate", build=build_debate_graph, annotate=debate_outcome, curate=debate_training_sets,
    nodes=lambda config: ["agent"], single_agent_learns=True,
)
CHAIN = _Chain(
    name="chain", build=build_chain_graph, annotate=chain_outcome, curate=chain_training_sets,
    nodes=lambda config: config.all_roles(), repairable=True,
)
CRITIQUE = _Critique(
    name="critique", build=build_critique_graph, annotate=critique_outcome, curate=critique_training_sets,
    nodes=lambda config: ["actor"], repairable=True, extra_scores=_critique_scores,
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (DEBATE, CHAIN, CRITIQUE)}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; available: {', '.join(sorted(PROTOCOLS))}")
    return PROTOCOLS[name]


__all__ = ["CHAIN", "CRITIQUE", "DEBATE", "PROTOCOLS", "Protocol", "get_protocol", "ChainConfig", "CritiqueConfig", "DebateConfig"]
