"""LoRA training and hot-swap mechanics on a tiny model built in-process."""

from __future__ import annotations

import threading

import pytest
import torch

from moot.nodes import LocalEngine, LocalModelPool, SamplingParams
from moot.training import AdapterManifest, LoraTrainingConfig, NotEnoughData, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = LoraTrainingConfig(rank=8, alpha=16, learning_rate=1e-2, epochs=1, max_steps=20, batch_size=4, dropout=0.0)


def examples(answer: str, n: int = 8) -> list[TrainingExample]:
    return [TrainingExample(f"rec-{answer}-{i}", "solver", QUESTION, answer) for i in range(n)]


@pytest.fixture(scope="module")
def adapters(tiny_model_dir_each_seed, tmp_path_factory):
    """Two adapter versions trained towards different answers."""
    folder = tmp_path_factory.mktemp("adapters")
    first = train_lora_adapter(tiny_model_dir_each_seed, examples("apple"), folder / "v1", role="solver", iteration=1, config=FAST)
    second = train_lora_adapter(tiny_model_dir_each_seed, examples("banana"), folder / "v2", role="solver", iteration=2, config=FAST)
    return folder / "v1", folder / "v2", first, second


def greedy(pool: LocalModelPool, role: str = "solver") -> str:
    return pool.model(role, temperature=0.0, max_tokens=6).invoke(QUESTION).content


def likelihood_gain(engine: LocalEngine, answer: str, adapter: str, over: str | None = None) -> float:
    """How many nats more likely ``answer`` is under ``adapter`` than under ``over`` (default: the base)."""
    return engine.log_likelihood(QUESTION, answer, adapter) - engine.log_likelihood(QUESTION, answer, over)


# Training raises the target's likelihood by tens of nats here; a margin of 2 nats is far from
# any rounding difference between CPUs, unlike the exact text a freshly trained model writes.
MARGIN = 2.0
# Tests that compare a row generated in a batch with the same row alone run in float32, where
# the padded rows leave each row's arithmetic as it is; in bfloat16 a near-tie may break differently.
BATCH_DTYPE = "float32"


def base_weights(engine: LocalEngine) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in engine.model.state_dict().items() if "lora_" not in k}


def test_training_writes_an_adapter_with_its_manifest(adapters):
    v1, _, manifest, _ = adapters
    assert (v1 / "adapter_config.json").is_file() and (v1 / "adapter_model.safetensors").is_file()
    loaded = AdapterManifest.load(v1)
    assert loaded.role == "solver" and loaded.iteration == 1
    assert loaded.record_ids == [f"rec-apple-{i}" for i in range(8)]
    assert loaded.train_loss == pytest.approx(manifest.train_loss) and loaded.train_loss > 0
    assert not (v1 / "trainer").exists()


def test_training_can_go_on_from_an_earlier_adapter(tiny_model_dir_each_seed, adapters, tmp_path):
    from dataclasses import replace

    from safetensors.torch import load_file

    v1, _, _, _ = adapters
    barely = replace(FAST, learning_rate=1e-12, max_steps=1)
    manifest = train_lora_adapter(tiny_model_dir_each_seed, examples("banana"), tmp_path / "on", role="solver", iteration=2,
                                  config=barely, init_adapter=v1)
    before, after = load_file(v1 / "adapter_model.safetensors"), load_file(tmp_path / "on" / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    # A fresh LoRA starts with B = 0; this one starts from v1's learned weights and barely moves.
    assert any(before[k].abs().sum() > 0 for k in before if "lora_B" in k)
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)
    assert manifest.parent == str(v1) and AdapterManifest.load(tmp_path / "on").parent == str(v1)


def test_hot_swap_changes_outputs_without_touching_the_base(tiny_model_dir_each_seed, adapters):
    v1, v2, _, _ = adapters
    engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed)
    pool = LocalModelPool(engine)
    before = greedy(pool)
    weights_before = base_weights(engine)
    model_object = engine.model

    version = pool.publish("solver", v1)
    assert version == "solver_v1" and pool.registry.current("solver") == "solver_v1"
    after = greedy(pool)
    assert after != before
    assert likelihood_gain(engine, "apple", "solver_v1") > MARGIN
    # Same base tensors, same object: no reload happened.
    weights_after = {k.replace("base_model.model.", "").replace(".base_layer", ""): v for k, v in base_weights(engine).items()}
    for name, tensor in weights_before.items():
        assert torch.equal(tensor, weights_after[name]), name
    assert engine.model.get_base_model() is model_object
    # Other roles still run the base model.
    assert greedy(pool, role="someone-else") == before


def test_new_versions_get_new_names_and_the_old_one_stays_for_rollback(tiny_model_dir_each_seed, adapters):
    v1, v2, _, _ = adapters
    pool = LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir_each_seed))
    pool.publish("solver", v1)
    first = greedy(pool)
    assert pool.publish("solver", v2) == "solver_v2"
    second = greedy(pool)
    assert likelihood_gain(pool.engine, "banana", "solver_v2", over="solver_v1") > MARGIN
    assert {"solver_v1", "solver_v2"} <= pool.engine.adapters
    assert pool.rollback("solver") == "solver_v1"
    # Same weights on the same machine: the restored version answers exactly as before.
    assert greedy(pool) == first
    assert pool.publish("solver", v2) == "solver_v3" and greedy(pool) == second
    with pytest.raises(ValueError, match="new name"):
        pool.engine.load_adapter("solver_v1", v1)


def test_only_current_and_previous_versions_stay_loaded(tiny_model_dir_each_seed, adapters):
    v1, v2, _, _ = adapters
    pool = LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir_each_seed))
    for folder in (v1, v2, v1):
        pool.publish("solver", folder)
    assert pool.engine.adapters == {"solver_v2", "solver_v3"}


def test_one_batched_call_runs_each_row_with_its_own_adapter(tiny_model_dir_each_seed, adapters):
    v1, v2, _, _ = adapters
    engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype=BATCH_DTYPE)
    engine.load_adapter("a", v1)
    engine.load_adapter("b", v2)
    params = SamplingParams(max_new_tokens=6)
    mixed = engine.generate([QUESTION] * 3, params, adapters=["a", None, "b"])
    alone = [engine.generate([QUESTION], params, adapters=[name])[0] for name in ("a", None, "b")]
    assert [c.text for c in mixed] == [c.text for c in alone]
    assert [c.adapter for c in mixed] == ["a", None, "b"]


def test_concurrent_calls_are_batched_into_fewer_generate_calls(tiny_model_dir_each_seed):
    engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype=BATCH_DTYPE, gather_window_s=0.2)
    pool = LocalModelPool(engine)
    questions = [[{"role": "user", "content": f"Count to {i}"}] for i in range(8)]
    sequential = [pool.model("x", max_tokens=5).invoke(q).content for q in questions]
    calls_before = engine.generate_calls
    batched = [m.content for m in pool.model("x", max_tokens=5).batch(questions)]
    assert batched == sequential
    assert engine.generate_calls - calls_before < len(questions)


def test_a_swap_during_traffic_is_atomic(tiny_model_dir_each_seed, adapters):
    v1, _, _, _ = adapters
    pool = LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype=BATCH_DTYPE))
    base_answer, results = greedy(pool), []
    workers = [threading.Thread(target=lambda: results.append(greedy(pool))) for _ in range(6)]
    for worker in workers[:3]:
        worker.start()
    pool.publish("solver", v1)
    for worker in workers[3:]:
        worker.start()
    for worker in workers:
        worker.join()
    trained = greedy(pool)
    assert set(results) <= {base_answer, trained}


def test_errors_are_clear(tiny_model_dir_each_seed, tmp_path):
    with pytest.raises(NotEnoughData, match="solver"):
        train_lora_adapter(tiny_model_dir_each_seed, [], tmp_path / "x", role="solver")
    engine = LocalEngine.from_pretrained(tiny_model_dir_each_seed)
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        engine.load_adapter("ghost", tmp_path)
    with pytest.raises(KeyError, match="not loaded"):
        engine.generate([QUESTION], adapters=["ghost"])
    with pytest.raises(ValueError, match="rank"):
        LoraTrainingConfig(rank=0)


def test_a_failed_or_killed_training_leaves_no_folder_behind(tiny_model_dir, tmp_path):
    folder = tmp_path / "adapters"
    for leftover in ("solver.scratch", "solver.partial"):  # what a training killed with -9 leaves
        (folder / leftover).mkdir(parents=True)

    def interrupted(step, total, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora_adapter(tiny_model_dir, examples("apple"), folder / "solver", role="solver", config=FAST,
                           on_step=interrupted)
    assert list(folder.iterdir()) == []
    train_lora_adapter(tiny_model_dir, examples("apple"), folder / "solver", role="solver",
                       config=LoraTrainingConfig(rank=8, alpha=16, max_steps=1, batch_size=4))
    assert [p.name for p in folder.iterdir()] == ["solver"]
