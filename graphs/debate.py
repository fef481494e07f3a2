"""Multi-agent debate (Du et al. 2023; Multiagent Finetuning): N agents, R rounds, majority vote.

Round 1: every agent answers alone. Each later round: every agent sees its peers' latest
answers (or a summary of them) and answers again. The final round's answers are put to a
majority vote. Agents of one round run as parallel tasks, so a local engine batches them.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict, Unpack

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Send
from moot.nodes.answers import majority_vote
from moot.nodes.debate import (
    AgentTask,
    AgentTurn,
    DebateConfig,
    PeerSummary,
    SummaryTask,
    agent_conversation,
    make_agent_node,
    make_summary_node,
)
from moot.nodes.serving.model_pool import ModelPool
from moot.stores.record_schema import Outcome

from .compile_options import CompileOptions, compile_graph


class DebateState(TypedDict, total=False):
    """The debate's state; ``question`` is the only input."""

    question: str
    round: int
    turns: Annotated[list[AgentTurn], operator.add]
    summaries: Annotated[list[PeerSummary], operator.add]
    final_answer: str | None
    votes: dict[str, int]


def build_debate_graph(pool: ModelPool, config: DebateConfig = DebateConfig(),
                       **options: Unpack[CompileOptions]) -> CompiledStateGraph:
    """Compile a debate over the models in ``pool``.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> graph = build_debate_graph(SharedModelPool(FakeListChatModel(responses=["7"])),
        ...                            DebateConfig(n_agents=3, n_rounds=2))
        >>> result = graph.invoke({"question": "What is 3 + 4?"})
        >>> result["final_answer"], len(result["turns"])
        ('7', 6)
    """

    def own_turns(state: DebateState, agent: int) -> list[AgentTurn]:
        return sorted((t for t in state.get("turns", []) if t["agent"] == agent), key=lambda t: t["round"])

    def peers_latest(state: DebateState, agent: int, round_: int) -> list[str]:
        return [t["text"] for t in state.get("turns", []) if t["round"] == round_ and t["agent"] != agent]

    def shown_to(state: DebateState, agent: int, round_: int) -> list[str]:
        """What ``agent`` saw of its peers before answering in round ``round_ + 1``."""
        if config.summarize:
            return [s["text"] for s in state.get("summaries", []) if s["agent"] == agent and s["round"] == round_ + 1]
        return peers_latest(state, agent, round_)

    def agent_tasks(state: DebateState) -> list[Send]:
        round_ = state["round"]
        sends = []
        for agent in range(config.n_agents):
            shown = [shown_to(state, agent, r) for r in range(round_)]
            messages = agent_conversation(config, state["question"], own_turns(state, agent), shown)
            sends.append(Send("agent", AgentTask(agent=agent, round=round_, messages=messages)))
        return sends

    def start(state: DebateState) -> dict:
        if not state.get("question"):
            raise ValueError("a debate needs a non-empty 'question'")
        return {"round": 0}

    def next_round(state: DebateState) -> dict:
        return {"round": state["round"] + 1}

    def after_round(state: DebateState) -> Any:
        round_ = state["round"]
        if round_ >= config.n_rounds:
            return "vote"
        if config.summarize:
            return [
                Send("summarize", SummaryTask(agent=a, round=round_, others=peers_latest(state, a, round_ - 1)))
                for a in range(config.n_agents)
            ]
        return agent_tasks(state)

    def vote(state: DebateState) -> dict:
        last = config.n_rounds - 1
        finals = sorted((t for t in state["turns"] if t["round"] == last), key=lambda t: t["agent"])
        winner, counts = majority_vote([t["answer"] for t in finals])
        return {"final_answer": winner, "votes": counts}

    builder = StateGraph(DebateState)
    builder.add_node("start", start)
    builder.add_node("agent", make_agent_node(pool, config))
    builder.add_node("next_round", next_round)
    builder.add_node("summarize", make_summary_node(pool, config))
    builder.add_node("summaries_ready", lambda state: {})
    builder.add_node("vote", vote)
    builder.add_edge(START, "start")
    builder.add_conditional_edges("start", agent_tasks, ["agent"])
    builder.add_edge("agent", "next_round")
    builder.add_conditional_edges("next_round", after_round, ["agent", "summarize", "vote"])
    builder.add_edge("summarize", "summaries_ready")
    builder.add_conditional_edges("summaries_ready", agent_tasks, ["agent"])
    builder.add_edge("vote", END)
    return compile_graph(builder, "debate", options)


def debate_outcome(state: DebateState, record: dict[str, Any]) -> Outcome:
    """Outcome fields for one logged node output of a finished debate.

    ``record`` holds the output's metadata (agent, round, node, and the episode's
    ``target`` when the task has a ground truth). Used by the experience callback.
    """
    outcome: Outcome = {"final_answer": state.get("final_answer")}
    target = record.get("target")
    if target is not None:
        outcome["final_correct"] = state.get("final_answer") == str(target)
    if record.get("node") == "agent":
        turn = next(
            (t for t in state.get("turns", []) if t["agent"] == record.get("agent") and t["round"] == record.get("round")),
            None,
        )
        if turn is not None:
            answer = turn["answer"]
            outcome["answer"] = answer
            outcome["consensus"] = answer is not None and answer == state.get("final_answer")
            if target is not None:
                outcome["correct"] = answer == str(target)
                outcome["reward"] = 1.0 if outcome["correct"] else 0.0
    return outcome
