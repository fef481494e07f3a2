"""Episodes, roles, run ids and rewards for any graph: what the live learner's records carry."""

from __future__ import annotations

from typing import TypedDict

import pytest
from fakes import scripted_pool
from langchain_core.language_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, StateGraph

from moot.nodes import SharedModelPool
from moot.nodes.debate import DebateConfig
from moot.protocols import DEBATE
from moot.stores import ExperienceLibrary, ExperienceLogger, Feedback
from moot.training.rewarded import episode_rewards, rewarded_training_sets


@pytest.fixture
def library(tmp_path) -> ExperienceLibrary:
    return ExperienceLibrary(tmp_path / "library")


def support_app(replies: list[str]):
    pool = SharedModelPool(FakeListChatModel(responses=replies))
    return ChatPromptTemplate.from_messages([("user", "{question}")]) | pool.model("support") | StrOutputParser()


def test_a_plain_chain_call_gets_its_role_run_ids_tags_and_root_run_as_episode(library):
    app = support_app(["Paris"])
    with ExperienceLogger(library) as logger:
        app.invoke({"question": "Capital of France?"}, {"callbacks": [logger], "tags": ["web"]})
    (record,) = library.find()
    assert record["role"] == "support"
    assert record["episode"] == record["lc_parent_run_id"]  # the chain's root run is the episode
    assert record["lc_run_id"] and record["lc_run_id"] != record["episode"]
    assert "web" in str(record["tags"]).split(",")
    assert record.messages == [{"role": "user", "content": "Capital of France?"}] and record.text == "Paris"


def test_turns_of_a_reused_episode_id_are_all_kept(library):
    app = support_app(["Hello", "Paris"])
    with ExperienceLogger(library) as logger:
        for question in ("Hi", "Capital of France?"):
            app.invoke({"question": question}, {"callbacks": [logger], "metadata": {"episode": "chat-17"}})
    turns = sorted(library.find(episode="chat-17"), key=lambda r: r["time"])
    assert [r.text for r in turns] == ["Hello", "Paris"]


class Parent(TypedDict, total=False):
    question: str
    final_answer: str


def test_a_protocol_nested_in_a_users_graph_is_labelled_from_its_own_state(library):
    debate = DEBATE.build(scripted_pool(debater_0=["7", "7"], debater_1=["7", "7"], debater_2=["5", "7"]),
                          DebateConfig(n_agents=3, n_rounds=2))
    builder = StateGraph(Parent)
    builder.add_node("solve", debate)
    # The parent graph overwrites final_answer afterwards: labelling from its state would say "wrong".
    builder.add_node("rewrite", lambda state: {"final_answer": "not a number"})
    builder.add_edge(START, "solve")
    builder.add_edge("solve", "rewrite")
    builder.add_edge("rewrite", END)
    app = builder.compile()
    with ExperienceLogger(library, annotate=DEBATE.annotators) as logger:
        out = app.invoke({"question": "3 + 4?"}, {"callbacks": [logger], "metadata": {"episode": "e", "target": "7"}})
    assert out["final_answer"] == "not a number"
    records = library.find(episode="e")
    assert len(records) == 6
    assert all(r["final_correct"] is True and r["final_answer"] == "7" for r in records)
    assert {(r["agent"], r["round"]): r["correct"] for r in records}[(2, 0)] is False


def test_feedback_after_the_fact_keeps_its_history_and_the_latest_counts(library):
    library.add_feedback(Feedback("chat-1", 1.0, time=1.0))
    library.add_feedback(Feedback("chat-1", 0.0, correction="Madrid", source="grader", time=2.0))
    rows = library.feedback(episode="chat-1")
    assert [(f.reward, f.correction, f.source) for f in rows] == [(1.0, None, "user"), (0.0, "Madrid", "grader")]
    assert episode_rewards([], rows) == {"chat-1": 0.0}


def test_a_plain_chain_gives_training_sets_from_rewards_and_corrections(library):
    app = support_app(["Paris", "Rome", "Berlin"])
    with ExperienceLogger(library) as logger:
        for episode, question in [("a", "Capital of France?"), ("b", "Capital of Spain?"), ("c", "Capital of Italy?")]:
            app.invoke({"question": question}, {"callbacks": [logger], "metadata": {"episode": episode}})
    library.add_feedback(Feedback("a", 1.0))
    library.add_feedback(Feedback("b", 0.0, correction="Madrid"))
    library.add_feedback(Feedback("c", 0.0))  # wrong and uncorrected: not learned from
    sets = rewarded_training_sets(library.find(), library.feedback())
    assert sorted((e.prompt[-1]["content"], e.completion) for e in sets["support"]) == [
        ("Capital of France?", "Paris"), ("Capital of Spain?", "Madrid")]


def test_a_reward_function_of_the_final_output_annotates_every_call(library):
    app = support_app(["Paris"])
    with ExperienceLogger(library, annotate=lambda output, record: {"reward": float(output == "Paris")}) as logger:
        app.invoke({"question": "Capital of France?"}, {"callbacks": [logger]})
    (record,) = library.find()
    assert record["reward"] == 1.0


def test_a_vllm_role_model_built_once_follows_every_swap():
    from moot.nodes.serving.adapter_registry import AdapterRegistry
    from moot.nodes.serving.vllm_pool import RoleChatOpenAI

    registry = AdapterRegistry()
    model = RoleChatOpenAI(model="base", role="support", registry=registry, base_model="base",
                           base_url="http://127.0.0.1:9/v1", api_key="unused")
    app = ChatPromptTemplate.from_messages([("user", "{question}")]) | model  # built once, as an app is
    assert model._get_request_payload("hi")["model"] == "base"
    registry.switch("support", "support_v2")
    assert model._get_request_payload("hi")["model"] == "support_v2" and app.last is model
