"""The live learner on the tiny in-process model: triggers, the gate, rollback, roll forward, resume."""

from __future__ import annotations

import contextlib

from dataclasses import replace

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from moot.selection.candidates import CandidateConfig
from moot.promotion.gate import GateConfig, gate_decision
from moot.live.learner import Learner, LearnerConfig
from moot.nodes import LocalEngine, LocalModelPool
from moot.stores import Feedback
from moot.training import LoraTrainingConfig, TrainingExample

FAST = LoraTrainingConfig(rank=8, alpha=16, learning_rate=1e-2, epochs=1, max_steps=12, batch_size=4, dropout=0.0,
                          dtype="float32")
QUESTION = "What is 2 + 2?"


class AlwaysPass:
    """A gate set on which every candidate is ahead of the current version (the trigger tests do not test the gate)."""

    def score(self, views):
        return [[0.0 if i == 0 else 1.0] * 4 for i, _ in enumerate(views)]


def settings(**changes) -> LearnerConfig:
    # nice 0: these tests check what a distillation does, and share 2 cores with the rest of the suite
    return replace(LearnerConfig(lora=FAST, poll_s=0.1, gate_share=0.0, replay_share=0.0, train_niceness=0), **changes)


def make_app(pool):
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    return prompt | pool.model("support", temperature=0.0, max_tokens=4) | StrOutputParser()


def serve(learner: Learner, app, n: int, reward: float | None = None, start: int = 0) -> None:
    for i in range(start, start + n):
        app.invoke({"question": QUESTION}, learner.config(episode=f"chat-{i}"))
        if reward is not None:
            learner.feedback(f"chat-{i}", reward)


@pytest.fixture
def pool(tiny_model_dir) -> LocalModelPool:
    return LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32"))


def test_the_gate_accepts_refuses_and_wants_a_small_gate_to_see_the_candidate_ahead():
    assert gate_decision([0.5] * 10, [0.6] * 10).promote
    assert not gate_decision([1.0] * 10, [0.0] * 10).promote
    one_worse = ([1, 1, 1, 1], [1, 1, 1, 0])
    assert not gate_decision(*one_worse).promote  # one loss in four: within a standard error, but not ahead
    assert not gate_decision([1, 0, 1, 0], [1, 0, 1, 0]).promote  # nor is a tie, below 30 items
    one_lost_of_30 = ([1] + [0] * 29, [0] * 30)
    assert gate_decision(*one_lost_of_30).promote  # from 30 items: a loss within the margin passes
    assert not gate_decision(one_worse[0] * 50, one_worse[1] * 50).promote  # one in four over 200 does not
    too_few = gate_decision([1.0], [1.0], GateConfig(min_items=4))
    assert not too_few.promote and "gate items" in too_few.reason


def test_a_role_distils_once_it_has_enough_new_kept_examples(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(every=4), gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    app = make_app(pool)
    serve(learner, app, 3, reward=1.0)
    serve(learner, app, 2, reward=0.0, start=3)  # failed episodes are not kept
    assert learner.step() == []
    serve(learner, app, 1, reward=1.0, start=5)
    (version,) = learner.step()
    assert version.status == "serving" and version.examples == {"new": 4, "replay": 0}
    assert pool.registry.current("support") == version.name
    assert learner.step() == []  # the cursor moved past what it used


def test_the_timer_distils_fewer_examples(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(every=100, every_minutes=0.0, min_examples=2),
                      gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    serve(learner, make_app(pool), 2, reward=1.0)
    (version,) = learner.step()
    assert version.examples["new"] == 2


def wrong(n: int) -> list[TrainingExample]:
    return [TrainingExample(f"poison-{i}", "support", [{"role": "user", "content": QUESTION}], "17") for i in range(n)]


def right(n: int) -> list[TrainingExample]:
    return [TrainingExample(f"good-{i}", "support", [{"role": "user", "content": QUESTION}], "4") for i in range(n)]


def test_a_poisoned_candidate_is_refused_and_never_served(pool, tiny_model_dir, tmp_path):
    """Held-out traffic says "4" was right and "17" wrong; a candidate trained on "17" must not pass."""
    learner = Learner(pool, tmp_path / "run", config=settings(gate_share=0.5), base_model_dir=tiny_model_dir)
    app = make_app(pool)
    serve(learner, app, 12)
    learner.logger.flush()
    held = [r for r in learner.library.find() if int(str(r["episode"]).split("-")[1]) % 2 == 0]
    gate_records = [replace(r, text="4" if i % 2 else "17") for i, r in enumerate(held)]
    feedback = [learner_feedback(r["episode"], 1.0 if r.text == "4" else 0.0) for r in gate_records]
    poisoned = learner.distill("support", wrong(8), gate_records=(gate_records, feedback))
    assert poisoned.status == "refused" and poisoned.gate["difference"] < 0 and not poisoned.gate["promote"]
    assert pool.registry.current("support") is None and poisoned.name not in pool.engine.adapters
    good = learner.distill("support", right(8), gate_records=(gate_records, feedback))
    assert good.status == "serving" and pool.registry.current("support") == good.name


def learner_feedback(episode, reward):
    return Feedback(str(episode), reward)


def test_a_version_whose_live_reward_falls_is_rolled_back_and_can_be_rolled_forward(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(rollback_window=6), gate=AlwaysPass(),
                      base_model_dir=tiny_model_dir)
    app = make_app(pool)
    serve(learner, app, 6, reward=1.0)  # the base version does well
    version = learner.distill("support", right(4))
    assert pool.registry.current("support") == version.name
    serve(learner, app, 6, reward=0.0, start=6)  # then the new version does badly
    learner.step()
    assert pool.registry.current("support") is None
    assert learner.state.versions[version.name].status == "rolled_back"
    assert version.name not in pool.engine.adapters  # a version rolled back from is unloaded
    assert [e["event"] for e in learner.state.events if e["event"] != "distilling"] == ["promoted", "rolled_back"]
    learner.serve("support", version.name)  # roll forward by name: loaded again from its folder
    assert pool.registry.current("support") == version.name and version.name in pool.engine.adapters


def test_a_restarted_learner_serves_what_it_served_and_keeps_its_cursor(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(every=4), gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    app = make_app(pool)
    serve(learner, app, 4, reward=1.0)
    (version,) = learner.step()
    before = app.invoke({"question": "What is 3 + 5?"})
    learner.stop()

    fresh = LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32"))  # a new process's pool
    again = Learner(fresh, tmp_path / "run", config=settings(every=4), gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    assert again.state.run_id == learner.state.run_id
    assert fresh.registry.current("support") == version.name
    assert make_app(fresh).invoke({"question": "What is 3 + 5?"}) == before
    assert again.step() == []  # the examples already used are not distilled again


def test_requests_in_flight_finish_while_their_version_is_unloaded(pool, tiny_model_dir, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    learner = Learner(pool, tmp_path / "run", config=settings(), gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    first = learner.distill("support", right(4))
    app = make_app(pool)
    with ThreadPoolExecutor(8) as workers:
        replies = [workers.submit(app.invoke, {"question": QUESTION}) for _ in range(32)]
        learner.serve("support", None)
        pool.unload(first.name)
        assert all(isinstance(r.result(), str) for r in replies)
    assert first.name not in pool.engine.adapters


def test_later_distillations_replay_a_share_of_older_examples(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(every=4, replay_share=0.5), gate=AlwaysPass(),
                      base_model_dir=tiny_model_dir)
    app = make_app(pool)
    serve(learner, app, 4, reward=1.0)
    (first,) = learner.step()
    serve(learner, app, 4, reward=1.0, start=4)
    (second,) = learner.step()
    assert first.examples == {"new": 4, "replay": 0} and second.examples == {"new": 4, "replay": 4}
    assert second.parent == first.name  # trained on from the version it replaces


def test_a_judge_model_rewards_episodes_nobody_rewarded(tmp_path):
    from langchain_core.language_models import FakeListChatModel

    from moot.nodes import SharedModelPool

    pool = SharedModelPool(FakeListChatModel(responses=["4"]))
    learner = Learner(pool, tmp_path / "run", config=settings(), judge=FakeListChatModel(responses=["Yes, it is."]))
    app = make_app(pool)
    app.invoke({"question": QUESTION}, learner.config(episode="chat-1"))
    learner.step()
    (verdict,) = learner.library.feedback(episode="chat-1")
    assert verdict.source == "judge" and verdict.reward == 1.0


def test_held_out_splits_are_never_trained_on(pool, tiny_model_dir, tmp_path):
    learner = Learner(pool, tmp_path / "run", config=settings(every=2), gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    app = make_app(pool)
    for i, split in enumerate(["test", "test", "validation", "validation"]):
        app.invoke({"question": QUESTION}, learner.config(episode=f"eval-{i}", split=split))
        learner.feedback(f"eval-{i}", 1.0)
    assert learner.step() == []


def test_stopping_abandons_a_training_in_progress(pool, tiny_model_dir, tmp_path):
    import time

    endless = replace(FAST, max_steps=10**6, epochs=10**6)  # still training whenever stop() comes
    learner = Learner(pool, tmp_path / "run", config=settings(every=2, lora=endless), gate=AlwaysPass(),
                      base_model_dir=tiny_model_dir)
    serve(learner, make_app(pool), 2, reward=1.0)
    learner.start()
    deadline = time.monotonic() + 60
    while not learner.activity.startswith("training") and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    learner.stop()
    assert time.monotonic() - started < 10  # not the whole training
    assert [e["event"] for e in learner.state.events] == ["distilling", "cancelled"]
    assert not learner.distiller.worker.running  # the training itself was stopped, not left to run on
    assert not learner.state.versions and pool.registry.current("support") is None


@pytest.mark.parametrize("leaving", ["normally", "on an exception"])
def test_leaving_the_with_block_finishes_a_distillation_unless_an_exception_leaves_it(pool, tiny_model_dir, tmp_path,
                                                                                      leaving):
    import time

    learner = Learner(pool, tmp_path / "run", config=settings(every=2, lora=replace(FAST, max_steps=40)),
                      gate=AlwaysPass(), base_model_dir=tiny_model_dir)
    serve(learner, make_app(pool), 2, reward=1.0)
    with pytest.raises(KeyboardInterrupt) if leaving != "normally" else contextlib.nullcontext():
        with learner:
            deadline = time.monotonic() + 60
            while not learner.activity.startswith("training") and time.monotonic() < deadline:
                time.sleep(0.05)
            if leaving != "normally":
                raise KeyboardInterrupt
    events = [e["event"] for e in learner.state.events]
    if leaving == "normally":
        assert events == ["distilling", "promoted"] and pool.registry.current("support") is not None
    else:
        assert events == ["distilling", "cancelled"] and pool.registry.current("support") is None


def test_several_candidates_are_trained_and_the_best_on_held_out_traffic_is_gated(pool, tiny_model_dir, tmp_path):
    # candidate 0 barely moves (lr x 1e-4); candidate 1 learns the rewarded replies, so its
    # likelihood of held-out rewarded traffic is higher and it is the one gated and served
    candidates = CandidateConfig(count=2, learning_rate_factors=(1e-4, 1.0))
    learner = Learner(pool, tmp_path / "run", config=settings(every=4, gate_share=0.5, candidates=candidates),
                      base_model_dir=tiny_model_dir)
    serve(learner, make_app(pool), 16, reward=1.0)
    (version,) = learner.step()
    assert version.adapter_dir.endswith("candidate-1") and len(version.search["means"]) == 2
    means = list(version.search["means"].values())
    assert means[1] > means[0]
    assert version.status == "serving" and list(pool.engine.adapters) == [version.name]  # the loser was unloaded
