"""Debate (Multiagent Finetuning): N agents, R rounds, majority vote; per-agent generator/critic curation."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.debate import build_debate_graph, debate_outcome
from moot.nodes.debate import DebateConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.evaluation.diversity import METRICS, disagreements, pairwise_distances
from moot.evaluation.report import Score, mean_stderr
from moot.stores import ExperienceRecord
from moot.stores.embedding import OfflineEmbeddings
from moot.evaluation.tasks import Problem
from moot.training import CurationConfig, JudgedExample, TrainingExample, debate_training_sets
from moot.training.debate import debate_judged_calls

from .base import Protocol


class DebateProtocol(Protocol[DebateConfig]):
    name = "debate"
    single_agent_learns = True
    answering_nodes = ("agent",)

    def build(self, pool: ModelPool, config: DebateConfig) -> CompiledStateGraph:
        return build_debate_graph(pool, config)

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        return debate_outcome(state, record)

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return debate_training_sets(records, curation)

    def judge(self, records: list[ExperienceRecord], curation: CurationConfig) -> list[JudgedExample]:
        return debate_judged_calls(records, curation)

    def extra_scores(self, split: str, states: list[dict | None], problems: list[Problem], iteration: int) -> list[Score]:
        """Diversity of the agents' final-round replies (a society of one has none to report)."""
        finals = [sorted((t for t in s["turns"] if t["round"] == max(u["round"] for u in s["turns"])),
                         key=lambda t: t["agent"]) for s in states if s is not None and s.get("turns")]
        if not finals or len(finals[0]) < 2:
            return []
        suffix = "base" if iteration == 0 else f"iteration {iteration}"
        disagreement = mean_stderr(disagreements([[t["answer"] for t in turns] for turns in finals]))
        distance = mean_stderr(pairwise_distances([[t["text"] for t in turns] for turns in finals],
                                                  lambda texts: OfflineEmbeddings().embed_documents(texts)))
        return [Score(f"{metric} ({suffix})", mean, len(finals), stderr, iteration, kind="diversity")
                for metric, (mean, stderr) in zip(METRICS, (disagreement, distance))]
