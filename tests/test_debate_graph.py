"""Debate graph logic on fake chat models."""

from __future__ import annotations

import pytest
from fakes import scripted_pool

from moot.graphs import build_debate_graph
from moot.nodes.answers import majority_vote
from moot.nodes.debate import DebateConfig


def test_majority_of_final_round_wins_and_rounds_are_complete():
    pool = scripted_pool(debater_0=["5", "7"], debater_1=["7", "7"], debater_2=["6", "6"])
    result = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2)).invoke({"question": "3+4?"})
    assert result["final_answer"] == "7"
    assert result["votes"] == {"7": 2, "6": 1}
    assert sorted((t["round"], t["agent"]) for t in result["turns"]) == [(r, a) for r in range(2) for a in range(3)]


def test_round_one_answers_do_not_vote():
    # Everyone said 9 first, then two agents moved to 4: the final round decides.
    pool = scripted_pool(debater_0=["9", "4"], debater_1=["9", "4"], debater_2=["9", "9"])
    result = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2)).invoke({"question": "2+2?"})
    assert result["final_answer"] == "4"


def test_unparsable_answers_fail_for_their_agent_only():
    pool = scripted_pool(debater_0=["no idea"], debater_1=["I refuse"], debater_2=["It is 12."])
    result = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=1)).invoke({"question": "5+7?"})
    answers = {t["agent"]: t["answer"] for t in result["turns"]}
    assert answers == {0: None, 1: None, 2: "12"}
    assert result["final_answer"] == "12"


def test_all_unparsable_gives_no_answer_instead_of_an_exception():
    pool = scripted_pool(debater_0=["?"], debater_1=["?"])
    result = build_debate_graph(pool, DebateConfig(n_agents=2, n_rounds=2)).invoke({"question": "5+7?"})
    assert result["final_answer"] is None and result["votes"] == {}


def test_a_parser_that_raises_counts_as_unparsable():
    def strict(text: str) -> str:
        raise ValueError("cannot parse")

    pool = scripted_pool(debater_0=["1"])
    result = build_debate_graph(pool, DebateConfig(n_agents=1, n_rounds=1, parser=strict)).invoke({"question": "q"})
    assert result["turns"][0]["answer"] is None


def test_later_rounds_show_each_agent_its_peers_and_its_own_history():
    from langchain_core.callbacks import BaseCallbackHandler

    seen: list[list] = []

    class Capture(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, **kwargs):
            if kwargs.get("metadata", {}).get("agent") == 0 and kwargs["metadata"].get("round") == 1:
                seen.append(messages[0])

    pool = scripted_pool(debater_0=["10", "11"], debater_1=["20", "21"], debater_2=["30", "31"])
    build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2)).invoke({"question": "Q?"}, {"callbacks": [Capture()]})
    (messages,) = seen
    assert [m.type for m in messages] == ["human", "ai", "human"]
    assert messages[1].content == "10"
    assert "20" in messages[2].content and "30" in messages[2].content and "10" not in messages[2].content


def test_summaries_replace_raw_answers_when_enabled():
    pool = scripted_pool(
        debater_0=["1", "2"], debater_1=["3", "2"], debate_summarizer=["peers said three", "peers said one"]
    )
    result = build_debate_graph(pool, DebateConfig(n_agents=2, n_rounds=2, summarize=True)).invoke({"question": "Q?"})
    assert len(result["summaries"]) == 2
    assert result["final_answer"] == "2"


def test_generator_critic_roles_are_used_per_round():
    pool = scripted_pool(generator=["1", "1"], critic=["5", "5"])
    result = build_debate_graph(pool, DebateConfig(n_agents=2, n_rounds=2, roles="generator-critic")).invoke({"question": "Q"})
    assert {(t["round"], t["role"]) for t in result["turns"]} == {(0, "generator"), (1, "critic")}
    assert result["final_answer"] == "5"


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="at least one agent"):
        DebateConfig(n_agents=0)
    graph = build_debate_graph(scripted_pool(), DebateConfig(n_agents=1, n_rounds=1))
    with pytest.raises(ValueError, match="non-empty 'question'"):
        graph.invoke({"question": ""})


def test_vote_ties_go_to_the_first_answer():
    assert majority_vote(["8", "9", "9", "8"]) == ("8", {"8": 2, "9": 2})
