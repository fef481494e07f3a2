"""Actor, judge and critic (SiriuS): the actor's first answer is the step that gets repaired."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.critique import build_critique_graph, critique_outcome
from moot.nodes.answers import safe_parse
from moot.nodes.critique import Attempt, CritiqueConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.evaluation.report import Score
from moot.stores import ExperienceRecord
from moot.evaluation.tasks import Problem
from moot.training import CurationConfig, JudgedExample, TrainingExample, critique_training_sets
from moot.training.critique import critique_judged_calls

from .augmentation import FailedTrajectory, Step
from .base import RepairableProtocol


class CritiqueProtocol(RepairableProtocol[CritiqueConfig]):
    name = "critique"

    def build(self, pool: ModelPool, config: CritiqueConfig) -> CompiledStateGraph:
        return build_critique_graph(pool, config)

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        return critique_outcome(state, record)

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return critique_training_sets(records, curation)

    def judge(self, records: list[ExperienceRecord], curation: CurationConfig) -> list[JudgedExample]:
        return critique_judged_calls(records, curation)

    def trajectory_nodes(self, config: CritiqueConfig) -> list[str]:
        return ["actor"]

    def failed_trajectories(self, records: list[ExperienceRecord], config: CritiqueConfig) -> list[FailedTrajectory]:
        # Only the actor's first answer is repaired; the judge (and critic) are re-run on it.
        return [FailedTrajectory(t.episode, t.question, t.target, [s for s in t.steps if s.role == "actor" and s.index == 0],
                                 t.context)
                for t in super().failed_trajectories(records, config)]

    def resume_state(self, config: CritiqueConfig, steps: list[Step]) -> dict[str, Any]:
        (actor,) = steps
        return {"attempts": [Attempt(index=0, text=actor.text, answer=safe_parse(config.parser, actor.text))]}

    def extra_scores(self, split: str, states: list[dict | None], problems: list[Problem], iteration: int) -> list[Score]:
        """SiriuS's judge metrics: verdict accuracy, and answers both right and judged right."""
        judged, true_positive = [], []
        for state, problem in zip(states, problems):
            right = state is not None and state.get("final_answer") == problem.answer
            verdict = state is not None and bool(state.get("final_verdict"))
            judged.append(state is not None and verdict == right)
            true_positive.append(right and verdict)
        suffix = "base" if iteration == 0 else f"iteration {iteration}"
        return [Score.of(f"judge accuracy ({suffix})", judged, iteration),
                Score.of(f"true-positive accuracy ({suffix})", true_positive, iteration)]
