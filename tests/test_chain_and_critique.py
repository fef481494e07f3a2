"""Chain and critique protocols on fake chat models: role order, loop ends, rewards, verdicts."""

from __future__ import annotations

import pytest
from fakes import scripted_pool

from moot.graphs.chain import build_chain_graph, chain_outcome
from moot.graphs.critique import build_critique_graph, critique_outcome
from moot.nodes.chain import ChainConfig, ChainStep
from moot.nodes.critique import CritiqueConfig
from moot.stores import ExperienceLibrary, ExperienceLogger
from moot.training import critique_training_sets

TWO_STEPS = ChainConfig(steps=(
    ChainStep("planner", "You plan.", "Problem: {question}"),
    ChainStep("solver", "You solve.", "Problem: {question}\n\n{previous}\n\nSolve."),
))


def test_chain_runs_roles_in_order_each_seeing_the_earlier_ones():
    pool = scripted_pool(planner=["add the numbers"], solver=["3 + 4 = 7"])
    result = build_chain_graph(pool, TWO_STEPS).invoke({"question": "What is 3 + 4?"})
    assert [o["role"] for o in sorted(result["outputs"], key=lambda o: o["index"])] == ["planner", "solver"]
    assert result["final_answer"] == "7"


def test_a_chain_is_composed_from_data_and_records_what_each_role_saw(tmp_path):
    captured = []
    from langchain_core.callbacks import BaseCallbackHandler

    class Capture(BaseCallbackHandler):
        def on_chat_model_start(self, serialized, messages, **kwargs):
            captured.append((kwargs["metadata"]["role"], messages[0][-1].content))

    pool = scripted_pool(planner=["add the numbers"], solver=["7"])
    build_chain_graph(pool, TWO_STEPS).invoke({"question": "What is 3 + 4?"}, {"callbacks": [Capture()]})
    assert captured[0] == ("planner", "Problem: What is 3 + 4?")
    assert captured[1][0] == "solver" and "planner: add the numbers" in captured[1][1]


def test_chain_resumes_after_given_steps():
    pool = scripted_pool(planner=["SHOULD NOT RUN"], solver=["9"])
    result = build_chain_graph(pool, TWO_STEPS).invoke(
        {"question": "q", "outputs": [{"index": 0, "role": "planner", "text": "given plan"}]})
    assert [o["text"] for o in result["outputs"]] == ["given plan", "9"]


def test_chain_rewards_every_step_with_the_episode_outcome():
    state = {"final_answer": "7"}
    assert chain_outcome(state, {"target": "7", "node": "planner"})["reward"] == 1.0
    assert chain_outcome(state, {"target": "8", "node": "solver"})["correct"] is False


def test_chain_refuses_duplicate_roles():
    with pytest.raises(ValueError, match="unique"):
        ChainConfig(steps=(ChainStep("a", "x"), ChainStep("a", "y")))


def test_critique_stops_when_the_judge_accepts():
    pool = scripted_pool(actor=["7"], judge=["True"], critic=["never used"])
    result = build_critique_graph(pool).invoke({"question": "3+4?"})
    assert len(result["attempts"]) == 1 and not result.get("feedback")
    assert result["final_answer"] == "7" and result["final_verdict"] is True


def test_critique_loop_ends_at_the_retry_cap_even_if_the_judge_never_accepts():
    pool = scripted_pool(actor=["1", "2", "3", "4"], judge=["False"] * 4, critic=["try again"] * 4)
    result = build_critique_graph(pool, CritiqueConfig(max_retries=2)).invoke({"question": "q"})
    assert [a["answer"] for a in result["attempts"]] == ["1", "2", "3"]
    assert len(result["feedback"]) == 2 and result["final_answer"] == "3" and result["final_verdict"] is False


def test_unparsable_verdicts_follow_the_documented_rule():
    pool = scripted_pool(actor=["5", "6"], judge=["Hmm, maybe?", "Hmm"], critic=["check"])
    accepted = build_critique_graph(pool).invoke({"question": "q"})
    assert accepted["verdicts"][0]["parsed"] is False and accepted["final_verdict"] is True
    assert len(accepted["attempts"]) == 1
    pool = scripted_pool(actor=["5", "6"], judge=["Hmm", "Hmm"], critic=["check"])
    strict = build_critique_graph(pool, CritiqueConfig(unparsable_verdict=False)).invoke({"question": "q"})
    assert len(strict["attempts"]) == 2


def test_critique_rewards_actor_judge_and_critic(tmp_path):
    library = ExperienceLibrary(tmp_path / "lib")
    pool = scripted_pool(actor=["8", "7"], judge=["False", "True"], critic=["recount"])
    with ExperienceLogger(library, annotate=critique_outcome) as logger:
        build_critique_graph(pool).invoke({"question": "3+4?"}, {"callbacks": [logger], "metadata": {"episode": "c", "target": "7"}})
    records = {(r["node"], r["round"]): r for r in library.find(episode="c")}
    assert records[("actor", 0)]["correct"] is False and records[("actor", 1)]["correct"] is True
    assert records[("judge", 0)]["correct"] is True  # said False to a wrong answer
    assert records[("judge", 1)]["correct"] is True  # said True to a right answer
    assert records[("critic", 0)]["correct"] is True  # its feedback led to a right answer
    sets = critique_training_sets(library.find(episode="c"))
    assert {role: len(v) for role, v in sets.items()} == {"actor": 1, "judge": 2, "critic": 1}
    assert sets["actor"][0].completion == "7"
