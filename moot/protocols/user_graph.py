"""A graph of your own as a protocol: ``moot improve path/to/file.py:build_graph`` plays it on a task.

The graph is any LangGraph graph (or LCEL runnable) whose models come from the pool moot
passes its builder (``pool.model(role)``), so each role's calls are logged, curated and
trained under the role's name. The loops need only three things of it, set in
:class:`GraphConfig`: the builder, the input key the question goes in, and the output key
its answer comes back in. Every call of an episode is rewarded with whether the graph's
answer (read with the task's answer type) was right, and each role learns from its calls in
rewarded episodes (:func:`moot.training.rewarded.rewarded_training_sets`). A user graph's
roles are those its calls name; there is no repair (SiriuS augmentation) and no prompt
search for it, since both need to know the graph's steps. Its settings are :class:`~moot.protocols.user_graph_config.GraphConfig`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from moot.nodes.answers import safe_parse
from moot.nodes.serving.model_pool import ModelPool
from moot.stores import Annotator, ExperienceRecord
from moot.stores.experience_callback import ROOT
from moot.training import CurationConfig, TrainingExample
from moot.training.rewarded import rewarded_training_sets

from .base import Protocol
from .user_graph_config import GraphConfig, load_builder

class GraphProtocol(Protocol[GraphConfig]):
    """The protocol of one user graph (see the module docstring)."""

    name = "graph"

    def __init__(self, config: GraphConfig) -> None:
        self.config = config
        self.builder = load_builder(config.builder)

    def build(self, pool: ModelPool, config: GraphConfig) -> Any:
        graph = self.builder(pool)
        if not isinstance(graph, Runnable):
            raise ValueError(f"{config.builder} returned {type(graph).__name__}, not a compiled graph or runnable")
        if config.question_key == "question":
            return graph
        return RunnableLambda(lambda task: {config.question_key: task["question"]}, name="question") | graph

    @property
    def annotators(self) -> dict[str, Annotator]:
        # A user graph's name is its own: its calls are annotated from the outermost run's output.
        return {ROOT: self.annotate}

    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        answer = self.final_answer(state)
        outcome: dict[str, Any] = {"final_answer": answer}
        target = record.get("target")
        if target is not None:
            right = answer is not None and answer == str(target)
            outcome.update(final_correct=right, reward=float(right))
        return outcome

    def final_answer(self, state: dict[str, Any]) -> str | None:
        value = state.get(self.config.answer_key) if isinstance(state, dict) else None
        return None if value is None else safe_parse(self.config.parser, str(value))

    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        return rewarded_training_sets(records)
