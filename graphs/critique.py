"""Critique (SiriuS actor-critic): the actor answers, a judge rules, a critic gives feedback.

actor -> judge -> (True, or retries used up) -> END
               -> (False) -> critic -> actor -> judge -> ...
Neither judge nor critic sees the ground truth.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict, Unpack

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from moot.nodes.critique import (
    Attempt,
    CritiqueConfig,
    Critique,
    Verdict,
    make_actor_node,
    make_critic_node,
    make_judge_node,
)
from moot.nodes.serving.model_pool import ModelPool
from moot.stores.record_schema import Outcome

from .compile_options import CompileOptions, compile_graph


class CritiqueState(TypedDict, total=False):
    question: str
    attempts: Annotated[list[Attempt], operator.add]
    verdicts: Annotated[list[Verdict], operator.add]
    feedback: Annotated[list[Critique], operator.add]
    final_answer: str | None
    final_verdict: bool | None


def build_critique_graph(pool: ModelPool, config: CritiqueConfig = CritiqueConfig(),
                         **options: Unpack[CompileOptions]) -> CompiledStateGraph:
    """Compile the actor / judge / critic loop.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> pool = SharedModelPool(FakeListChatModel(responses=["0"]), {
        ...     "actor": FakeListChatModel(responses=["8", "7"]),
        ...     "judge": FakeListChatModel(responses=["False", "True"]),
        ...     "critic": FakeListChatModel(responses=["Recount."])})
        >>> result = build_critique_graph(pool).invoke({"question": "3+4?"})
        >>> result["final_answer"], result["final_verdict"], len(result["attempts"])
        ('7', True, 2)
    """

    def after_judge(state: CritiqueState) -> str:
        latest = max(state["verdicts"], key=lambda v: v["index"])
        if latest["verdict"] or len(state["attempts"]) > config.max_retries:
            return "finish"
        return "critic"

    def finish(state: CritiqueState) -> dict:
        latest = max(state["attempts"], key=lambda a: a["index"])
        verdict = max(state["verdicts"], key=lambda v: v["index"])
        return {"final_answer": latest["answer"], "final_verdict": verdict["verdict"]}

    builder = StateGraph(CritiqueState)
    builder.add_node("actor", make_actor_node(pool, config))
    builder.add_node("judge", make_judge_node(pool, config))
    builder.add_node("critic", make_critic_node(pool, config))
    builder.add_node("finish", finish)
    # A run may start from a given attempt (a repaired one): the judge then rules on it first.
    builder.add_conditional_edges(START, lambda state: "judge" if state.get("attempts") else "actor", ["actor", "judge"])
    builder.add_edge("actor", "judge")
    builder.add_conditional_edges("judge", after_judge, ["critic", "finish"])
    builder.add_edge("critic", "actor")
    builder.add_edge("finish", END)
    return compile_graph(builder, "critique", options)


def critique_outcome(state: CritiqueState, record: dict[str, Any]) -> Outcome:
    """Rewards: actor for a right answer, judge for a right verdict, critic when its
    feedback led to a right regeneration."""
    outcome: Outcome = {"final_answer": state.get("final_answer"), "final_verdict": state.get("final_verdict")}
    target = record.get("target")
    if target is None:
        return outcome
    target = str(target)
    outcome["final_correct"] = state.get("final_answer") == target
    attempts = {a["index"]: a for a in state.get("attempts", [])}
    index, node = record.get("round"), record.get("node")
    if node == "actor" and index in attempts:
        outcome.update(answer=attempts[index]["answer"], correct=attempts[index]["answer"] == target)
    elif node == "judge":
        verdict = next((v for v in state.get("verdicts", []) if v["index"] == index), None)
        if verdict is not None and index in attempts:
            outcome.update(verdict=verdict["verdict"], verdict_parsed=verdict["parsed"],
                           correct=verdict["verdict"] == (attempts[index]["answer"] == target))
    elif node == "critic" and index is not None:
        regenerated = attempts.get(index + 1)
        outcome["correct"] = regenerated is not None and regenerated["answer"] == target
    if "correct" in outcome:
        outcome["reward"] = 1.0 if outcome["correct"] else 0.0
    return outcome
