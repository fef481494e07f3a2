"""The collaborative chain (SiriuS): each role's step in turn; repairable from any step."""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.chain import build_chain_graph, chain_outcome
from moot.nodes.chain import ChainConfig, StepOutput
from moot.nodes.serving.model_pool import ModelPool
from moot.stores import ExperienceRecord
from moot.training import CurationConfig, TrainingExample, chain_training_sets

from .augmentation import Step
from .base import RepairableProtocol


class ChainProtocol(RepairableProtocol[ChainConfig]):
    name = "chain"

    def build(self, pool: ModelPool, config: ChainConfig) -> CompiledStateGraph:
        return build_chain_graph(pool, config)

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        return chain_outcome(state, record)

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return chain_training_sets(records, curation)

    def trajectory_nodes(self, config: ChainConfig) -> list[str]:
        return config.all_roles()

    def resume_state(self, config: ChainConfig, steps: list[Step]) -> dict[str, Any]:
        return {"outputs": [StepOutput(index=s.index, role=s.role, text=s.text) for s in steps]}
