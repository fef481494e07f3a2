"""Debate (Multiagent Finetuning): N agents, R rounds, majority vote; per-agent generator/critic curation."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.debate import build_debate_graph, debate_outcome
from moot.nodes.debate import DebateConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.stores import ExperienceRecord
from moot.training import CurationConfig, TrainingExample, debate_training_sets

from .base import Protocol


class DebateProtocol(Protocol[DebateConfig]):
    name = "debate"
    single_agent_learns = True

    def build(self, pool: ModelPool, config: DebateConfig) -> CompiledStateGraph:
        return build_debate_graph(pool, config)

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        return debate_outcome(state, record)

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return debate_training_sets(records, curation)
