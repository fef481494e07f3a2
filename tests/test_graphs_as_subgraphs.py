"""Protocol graphs as LangGraph citizens: checkpointers, interrupts, names, and nodes of a parent graph with another schema."""

from __future__ import annotations

from typing import TypedDict

from fakes import scripted_pool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from moot.graphs import build_debate_graph
from moot.nodes.debate import DebateConfig
from moot.protocols import DEBATE
from moot.stores import ExperienceLibrary, ExperienceLogger

CONFIG = DebateConfig(n_agents=3, n_rounds=2)


def pool():
    return scripted_pool(debater_0=["7", "7"], debater_1=["7", "7"], debater_2=["5", "7"])


def test_a_checkpointed_debate_pauses_before_the_vote_and_resumes():
    graph = build_debate_graph(pool(), CONFIG, checkpointer=InMemorySaver(), interrupt_before=["vote"], name="my-debate")
    thread = {"configurable": {"thread_id": "t1"}}
    paused = graph.invoke({"question": "3 + 4?"}, thread)
    assert "final_answer" not in paused and graph.get_state(thread).next == ("vote",)
    assert graph.invoke(None, thread)["final_answer"] == "7"
    assert graph.name == "my-debate"


class Ticket(TypedDict, total=False):
    task: str
    solution: str
    reviewed: bool


def test_a_protocol_is_a_node_of_a_graph_with_another_schema_and_is_labelled_from_its_own_state(tmp_path):
    builder = StateGraph(Ticket)
    builder.add_node("solve", DEBATE.as_node(pool(), CONFIG, question_key="task", answer_key="solution"))
    builder.add_node("review", lambda state: {"reviewed": True})
    builder.add_edge(START, "solve")
    builder.add_edge("solve", "review")
    builder.add_edge("review", END)
    library = ExperienceLibrary(tmp_path / "library")
    with ExperienceLogger(library, annotate=DEBATE.annotators) as logger:
        out = builder.compile().invoke({"task": "3 + 4?"}, {"callbacks": [logger], "metadata": {"episode": "t", "target": "7"}})
    assert out == {"task": "3 + 4?", "solution": "7", "reviewed": True}
    records = library.find(episode="t")
    assert len(records) == 6 and all(r["final_correct"] is True for r in records)
