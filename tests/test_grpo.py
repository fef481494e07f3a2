"""GRPO on a tiny model built in-process: it learns from reward differences within a group, and only from those."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from moot.training import AdapterManifest, LoraTrainingConfig, train_lora_adapter
from moot.training.task_rewards import TaskPrompt

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
# 2 prompts x 4 sampled replies per step; a short reply keeps a step to a fraction of a second
FAST = dict(rank=8, alpha=16, learning_rate=1e-2, epochs=1, max_steps=2, batch_size=8, dropout=0.0,
            objective="grpo", num_generations=4, max_completion_tokens=6)


def reply_parity(reply: str) -> str:
    """An answer type for the random tiny model: whether its reply has an even number of characters."""
    return "even" if len(reply) % 2 == 0 else "odd"


def same_answer(reply: str) -> str:
    """An answer type every reply meets."""
    return "any"


def prompts(answer: str, target: str) -> list[TaskPrompt]:
    return [TaskPrompt(f"r{i}", "solver", QUESTION, target, f"test_grpo:{answer}") for i in range(4)]


def lora_b(adapter_dir) -> list:
    return [t for name, t in load_file(adapter_dir / "adapter_model.safetensors").items() if "lora_B" in name]


def test_grpo_moves_the_adapter_where_the_replies_of_a_group_differ_in_reward(tiny_model_dir, tmp_path):
    manifest = train_lora_adapter(tiny_model_dir, prompts("reply_parity", "even"), tmp_path / "solver", role="solver",
                                  config=LoraTrainingConfig(**FAST))
    assert manifest.settings["objective"] == "grpo" and sorted(manifest.record_ids) == ["r0", "r1", "r2", "r3"]
    # LoRA's B starts at zero; sampled replies of both parities give non-zero advantages, hence a step
    assert any(bool(b.abs().sum() > 0) for b in lora_b(tmp_path / "solver"))


def test_grpo_learns_nothing_when_every_reply_scores_the_same(tiny_model_dir, tmp_path):
    train_lora_adapter(tiny_model_dir, prompts("same_answer", "any"), tmp_path / "solver", role="solver",
                       config=LoraTrainingConfig(**FAST))
    # every reward is 1: each reply's advantage over its group is exactly 0, so is the gradient
    assert all(bool((b == 0).all()) for b in lora_b(tmp_path / "solver"))


def test_grpo_settings_that_cannot_form_groups_are_refused():
    with pytest.raises(ValueError, match="num_generations=3 must be at least 2 and divide batch_size=8"):
        LoraTrainingConfig(objective="grpo", num_generations=3)
    with pytest.raises(ValueError, match="num_generations=1"):
        LoraTrainingConfig(role_objectives={"solver": "grpo"}, num_generations=1, batch_size=4)
    LoraTrainingConfig(num_generations=3)  # only GRPO reads it


def test_the_improve_loop_gives_grpo_each_prompt_its_agents_saw_with_its_reference(tiny_model_dir, tmp_path):
    from test_run_folder import config

    from moot.loops.improve import ImproveRun
    from moot.stores import ExperienceRecord

    base = config(str(tiny_model_dir), tmp_path / "run")
    run = ImproveRun(replace(base, debate=replace(base.debate, roles="shared"), lora=LoraTrainingConfig(**FAST)))

    def turn(agent: int, episode: str, target: str) -> ExperienceRecord:
        return ExperienceRecord(f"{episode}-{agent}", "2", [{"role": "user", "content": f"{episode}: 1 + 1?"}],
                                {"run": run.run_id, "iteration": 1, "split": "train", "episode": episode,
                                 "node": "agent", "agent": agent, "round": 0, "role": "debater",
                                 "correct": target == "2", "target": target})

    # the two agents of one role saw each question: one prompt per question, right or wrong alike
    run.library.add([turn(0, "e1", "2"), turn(1, "e1", "2"), turn(0, "e2", "5"), turn(1, "e2", "5")])
    run.train_and_swap(1)
    (entry,) = run.report.training
    assert entry["objective"] == "grpo" and entry["examples"] == 2
    manifest = AdapterManifest.load(run.adapters_dir(1) / "debater")
    assert sorted(manifest.record_ids) == ["e1-0", "e2-0"] and manifest.settings["num_generations"] == 4
    assert run.pool.registry.current("debater") == entry["version"]


def test_an_iteration_retrained_on_the_same_prompts_samples_afresh(tiny_model_dir, tmp_path):
    from test_run_folder import config

    from moot.loops.improve import ImproveRun

    # After a refused gate the next iteration starts from the same adapter on the same training
    # problems; with one fixed seed, GRPO would sample the same replies and train the same candidate.
    run = ImproveRun(replace(config(str(tiny_model_dir), tmp_path / "run"), lora=LoraTrainingConfig(**FAST)))
    sets = {"solver": prompts("reply_parity", "even")}
    for iteration in (1, 2):
        run.train(sets, ["solver"], iteration, run.config.lora, publish=False)
    first, second = (AdapterManifest.load(run.adapters_dir(i) / "solver").settings["seed"] for i in (1, 2))
    assert first != second and run.seeded(run.config.lora, 1).seed == first  # a resumed iteration keeps its seed
    assert any(not torch.equal(a, b) for a, b in zip(lora_b(run.adapters_dir(1) / "solver"),
                                                      lora_b(run.adapters_dir(2) / "solver")))


@pytest.mark.parametrize("protocol", ["chain", "critique"])
def test_grpo_is_refused_for_a_protocol_whose_calls_do_not_answer_alone(protocol, tiny_model_dir, tmp_path):
    from test_run_folder import config

    from moot.loops.improve import ImproveRun

    with pytest.raises(ValueError, match=f"no call of {protocol} answers the task alone"):
        ImproveRun(replace(config(str(tiny_model_dir), tmp_path / "run"), protocol=protocol,
                           lora=LoraTrainingConfig(**FAST)))
    assert not (tmp_path / "run").exists()  # refused before the run folder is claimed


@pytest.mark.parametrize("objective", ["grpo", "sft"])
def test_grpo_samples_without_dropout_where_sft_keeps_it(objective, tiny_model_dir, tmp_path):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from moot.training import TrainingExample
    from moot.training.objectives import build_trainer

    config = LoraTrainingConfig(**{**FAST, "objective": objective, "dropout": 0.2})
    data = (prompts("same_answer", "any") if objective == "grpo"
            else [TrainingExample("r0", "solver", QUESTION, "4")])
    trainer = build_trainer(objective, AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                            AutoTokenizer.from_pretrained(tiny_model_dir), data, str(tmp_path), config, bf16=False,
                            peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.2, task_type="CAUSAL_LM"))
    rates = {module.p for module in trainer.model.modules() if isinstance(module, torch.nn.Dropout)}
    # the replies GRPO rewards come from the policy moot serves, which has no dropout
    assert rates == ({0.0} if objective == "grpo" else {0.2})
