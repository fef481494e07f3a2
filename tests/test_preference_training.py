"""DPO and KTO training on a tiny model built in-process: what the objectives guarantee, not what the model writes."""

from __future__ import annotations

import json

import pytest

from moot.nodes import LocalEngine
from moot.training import (AdapterManifest, JudgedExample, LoraTrainingConfig, PreferencePair, TrainingExample,
                           train_lora_adapter)

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = dict(rank=8, alpha=16, learning_rate=1e-2, epochs=1, max_steps=12, batch_size=4, dropout=0.0)


def pairs(chosen: str, rejected: str, n: int = 8) -> list[PreferencePair]:
    return [PreferencePair("solver", QUESTION, chosen, rejected, f"c{i}", f"r{i}") for i in range(n)]


def judged(good: str, bad: str, n: int = 4) -> list[JudgedExample]:
    return [JudgedExample(f"{kind}{i}", "solver", QUESTION, text, kind == "g", f"e{i}")
            for i in range(n) for kind, text in (("g", good), ("b", bad))]


def margin(engine: LocalEngine, adapter: str | None, chosen: str = "apple", rejected: str = "banana") -> float:
    """log p(chosen) - log p(rejected), in nats, under ``adapter`` (None: the base)."""
    return engine.log_likelihood(QUESTION, chosen, adapter) - engine.log_likelihood(QUESTION, rejected, adapter)


@pytest.mark.parametrize("objective", ["dpo", "kto"])
def test_a_preference_objective_widens_the_margin_of_the_good_reply(objective, tiny_model_dir, tmp_path):
    data = pairs("apple", "banana") if objective == "dpo" else judged("apple", "banana")
    config = LoraTrainingConfig(**FAST, objective=objective)
    manifest = train_lora_adapter(tiny_model_dir, data, tmp_path / "solver", role="solver", config=config)
    assert manifest.settings["objective"] == objective
    # the frozen reference adapter that trl adds is not part of the result
    assert not (tmp_path / "solver" / "ref").exists()
    assert set(manifest.record_ids) == {i for item in data for i in item.record_ids}
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("solver", tmp_path / "solver")
    # trained at a high rate on one question, the margin moves by nats, far beyond rounding
    assert margin(engine, "solver") > margin(engine, None) + 1.0


def test_kto_weighs_a_few_good_calls_against_many_bad_ones(tiny_model_dir, tmp_path):
    # a weak model's calls: one right, seven wrong (as on sum2, where about 15 % are right)
    wrong = ["banana", "cherry", "grape", "melon"]
    data = [JudgedExample("g", "solver", QUESTION, "apple", True, "e")] + [
        JudgedExample(f"b{i}", "solver", QUESTION, wrong[i % 4], False, "e") for i in range(7)]
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    for name, extra in [("balanced", {}), ("trl-default", {"desirable_weight": 1.0})]:
        train_lora_adapter(tiny_model_dir, data, tmp_path / name, role="solver",
                           config=LoraTrainingConfig(**FAST, objective="kto", extra=extra))  # trl's weights kept
        engine.load_adapter(name, tmp_path / name)
    good = {name: engine.log_likelihood(QUESTION, "apple", name) for name in (None, "balanced", "trl-default")}
    # weighted 7:1, the one good call counts as much as the seven bad: its reply becomes likelier,
    # where unweighted the push away from the bad ones takes it down with them
    assert good["balanced"] > good[None] + 1.0 and good["balanced"] > good["trl-default"] + 1.0


def test_dpo_goes_on_from_an_adapter_and_keeps_its_settings(tiny_model_dir, tmp_path):
    sft = LoraTrainingConfig(**FAST)
    train_lora_adapter(tiny_model_dir, [TrainingExample(f"s{i}", "solver", QUESTION, "banana") for i in range(8)],
                       tmp_path / "it1", role="solver", config=sft)
    dpo = LoraTrainingConfig(**{**FAST, "rank": 4}, role_objectives={"solver": "dpo"})
    manifest = train_lora_adapter(tiny_model_dir, pairs("apple", "banana"), tmp_path / "it2", role="solver",
                                  config=dpo, init_adapter=tmp_path / "it1")
    assert manifest.parent == str(tmp_path / "it1") and manifest.settings["objective"] == "dpo"
    assert json.loads((tmp_path / "it2" / "adapter_config.json").read_text())["r"] == 8  # the parent's rank
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("it1", tmp_path / "it1")
    engine.load_adapter("it2", tmp_path / "it2")
    # the reference is the parent adapter, which preferred banana: DPO moves away from it
    assert margin(engine, "it2") > margin(engine, "it1") + 1.0


@pytest.mark.parametrize("objective, data", [("dpo", [TrainingExample("a", "solver", QUESTION, "4")]),
                                             ("sft", pairs("4", "5", 1)),
                                             ("kto", pairs("4", "5", 1))])
def test_data_of_the_wrong_kind_for_the_objective_is_refused_before_training(objective, data, tiny_model_dir, tmp_path):
    with pytest.raises(TypeError, match=f"{objective} trains on"):
        train_lora_adapter(tiny_model_dir, data, tmp_path / "x", role="solver",
                           config=LoraTrainingConfig(**FAST, objective=objective))
    assert list(tmp_path.iterdir()) == []  # refused before any folder was made


def test_an_unknown_objective_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown training objective 'ppo' for critic"):
        LoraTrainingConfig(role_objectives={"critic": "ppo"})  # type: ignore[dict-item]


def test_the_manifest_of_a_dpo_adapter_loads(tiny_model_dir, tmp_path):
    train_lora_adapter(tiny_model_dir, pairs("apple", "banana", 4), tmp_path / "a", role="solver",
                       config=LoraTrainingConfig(**{**FAST, "max_steps": 1}, objective="dpo"))
    assert AdapterManifest.load(tmp_path / "a").settings["sft_weight"] == 1.0


def test_the_improve_loop_trains_a_debate_role_on_pairs_of_its_own_turns(tiny_model_dir, tmp_path):
    from dataclasses import replace

    from test_run_folder import config

    from moot.loops.improve import ImproveRun
    from moot.stores import ExperienceRecord

    run = ImproveRun(replace(config(str(tiny_model_dir), tmp_path / "run"),
                             lora=LoraTrainingConfig(**FAST, objective="dpo")))

    def turn(agent: int, episode: str, text: str, correct: bool) -> ExperienceRecord:
        return ExperienceRecord(f"{episode}-{agent}", text, [{"role": "user", "content": f"{episode}: 1 + 1?"}],
                                {"run": run.run_id, "iteration": 1, "split": "train", "episode": episode,
                                 "node": "agent", "agent": agent, "round": 0, "role": f"debater-{agent}",
                                 "correct": correct})

    # e1: agent 0 right, agent 1 wrong (a pair for each); e2: both right (no pair)
    run.library.add([turn(0, "e1", "2", True), turn(1, "e1", "3", False), turn(0, "e2", "2", True),
                     turn(1, "e2", "2", True)])
    run.train_and_swap(1)
    entries = {e["role"]: e for e in run.report.training}
    assert entries["debater-0"]["objective"] == entries["debater-1"]["objective"] == "dpo"
    assert entries["debater-0"]["examples"] == entries["debater-1"]["examples"] == 1  # one pair each
    for role in ("debater-0", "debater-1"):
        manifest = AdapterManifest.load(run.adapters_dir(1) / role)
        assert sorted(manifest.record_ids) == ["e1-0", "e1-1"] and manifest.settings["objective"] == "dpo"
        assert run.pool.registry.current(role) == entries[role]["version"]  # published into the running pool


def test_each_protocol_judges_its_calls_into_groups_that_pair_up():
    from moot.stores import ExperienceRecord, Feedback
    from moot.training import preference_pairs
    from moot.training.critique import critique_judged_calls
    from moot.training.negotiation import negotiation_judged_calls
    from moot.training.rewarded import rewarded_judged_calls

    opening = [{"role": "user", "content": "You sell a lamp. Make your first offer."}]
    # negotiation: a won and a lost game that opened on the same prompt pair up; an invalid move is bad
    turns = [ExperienceRecord(f"t{i}", text, opening, {"node": "player", "role": "seller", "episode": f"g{i}",
                                                       "valid": valid, "won": won, "deal": True, "utility": 1.0})
             for i, (text, valid, won) in enumerate([("OFFER 9", True, True), ("OFFER 2", True, False),
                                                     ("hello", False, True)])]
    judged = negotiation_judged_calls(turns)
    assert [c.good for c in judged] == [True, False, False]
    assert sorted((p.chosen, p.rejected) for p in preference_pairs(judged)["seller"]) == [("OFFER 9", "OFFER 2"),
                                                                                        ("OFFER 9", "hello")]
    # critique: the actor's rejected and accepted answers of one episode pair up; other episodes do not
    answers = [ExperienceRecord(f"a{i}", text, [{"role": "user", "content": "2+2?"}],
                                {"node": "actor", "role": "actor", "episode": episode, "correct": correct})
               for i, (text, episode, correct) in enumerate([("5", "e1", False), ("4", "e1", True), ("3", "e2", False)])]
    assert [(p.chosen, p.rejected) for p in preference_pairs(critique_judged_calls(answers))["actor"]] == [("4", "5")]
    # any graph: a correction is the chosen reply to the call it corrects
    call = ExperienceRecord("c", "Rome", [{"role": "user", "content": "Capital of Spain?"}],
                            {"episode": "e1", "role": "support", "time": 1.0})
    pairs = preference_pairs(rewarded_judged_calls([call], [Feedback("e1", 0.0, correction="Madrid")]))
    assert [(p.chosen, p.rejected) for p in pairs["support"]] == [("Madrid", "Rome")]


@pytest.mark.parametrize("objective", ["dpo", "kto", "grpo"])
def test_the_live_learner_refuses_an_objective_its_kept_calls_cannot_feed(objective):
    from moot.live.learner_config import LearnerConfig

    with pytest.raises(ValueError, match=f"objective {objective} is for moot improve"):
        LearnerConfig(lora=LoraTrainingConfig(objective=objective))
    with pytest.raises(ValueError, match=f"objective {objective} is for moot improve"):
        LearnerConfig(lora=LoraTrainingConfig(role_objectives={"critic": objective}))
