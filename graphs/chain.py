"""Collaborative problem solving (SiriuS): a chain of roles, each building on the earlier ones.

Roles, prompts and order are data (:class:`~moot.nodes.chain.ChainConfig`). A run
may start with some outputs already given: the chain then runs only the remaining steps,
which is how a repaired step's downstream roles are re-run.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict, Unpack

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from moot.nodes.answers import safe_parse
from moot.nodes.chain import ChainConfig, StepOutput, make_step_node
from moot.nodes.serving.model_pool import ModelPool
from moot.stores.record_schema import Outcome

from .compile_options import CompileOptions, compile_graph


class ChainState(TypedDict, total=False):
    """``question`` is the input; ``outputs`` may hold already-done steps."""

    question: str
    outputs: Annotated[list[StepOutput], operator.add]
    final_answer: str | None


def build_chain_graph(pool: ModelPool, config: ChainConfig = ChainConfig(),
                      **options: Unpack[CompileOptions]) -> CompiledStateGraph:
    """Compile a chain over the models in ``pool``.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> pool = SharedModelPool(FakeListChatModel(responses=["add them", "3+4=7", "7"]))
        >>> result = build_chain_graph(pool).invoke({"question": "What is 3 + 4?"})
        >>> [o["role"] for o in result["outputs"]], result["final_answer"]
        (['domain-expert', 'mathematician', 'summarizer'], '7')
    """
    roles = config.all_roles()

    def first_missing(state: ChainState) -> str:
        done = {o["index"] for o in state.get("outputs", [])}
        return next((roles[i] for i in range(len(roles)) if i not in done), "answer")

    def answer(state: ChainState) -> dict:
        last = max(state["outputs"], key=lambda o: o["index"])
        return {"final_answer": safe_parse(config.parser, last["text"])}

    builder = StateGraph(ChainState)
    for index, role in enumerate(roles):
        builder.add_node(role, make_step_node(pool, config, index))
    builder.add_node("answer", answer)
    builder.add_conditional_edges(START, first_missing, [*roles, "answer"])
    for role, following in zip(roles, roles[1:] + ["answer"]):
        builder.add_edge(role, following)
    builder.add_edge("answer", END)
    return compile_graph(builder, "chain", options)


def chain_outcome(state: ChainState, record: dict[str, Any]) -> Outcome:
    """Outcome fields of a chain step: every step shares the episode's result (SiriuS)."""
    outcome: Outcome = {"final_answer": state.get("final_answer")}
    target = record.get("target")
    if target is not None:
        correct = state.get("final_answer") == str(target)
        outcome.update(final_correct=correct, correct=correct, reward=1.0 if correct else 0.0)
    return outcome
