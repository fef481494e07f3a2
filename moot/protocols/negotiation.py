"""Negotiation games for self-play: players take turns under a referee; a player learns from the games it kept."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.negotiation import build_negotiation_graph, negotiation_outcome
from moot.nodes.negotiation import NegotiationConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.stores import ExperienceRecord
from moot.training import CurationConfig, JudgedExample, TrainingExample, negotiation_training_sets
from moot.training.negotiation import negotiation_judged_calls

from .base import Protocol


class NegotiationProtocol(Protocol[NegotiationConfig]):
    name = "negotiation"

    def build(self, pool: ModelPool, config: NegotiationConfig) -> CompiledStateGraph:
        return build_negotiation_graph(pool, config)

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        return negotiation_outcome(state, record)

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return negotiation_training_sets(records, curation.keep, curation.utility_threshold)

    def judge(self, records: list[ExperienceRecord], curation: CurationConfig) -> list[JudgedExample]:
        return negotiation_judged_calls(records, curation.keep, curation.utility_threshold)

    def roles(self, config: NegotiationConfig) -> list[str]:
        return [config.seats.get(player, player) for player in config.game.players]

    def final_answer(self, state: dict[str, Any]) -> str | None:
        return None  # a game has utilities, not an answer
