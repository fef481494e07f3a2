"""A pool refuses adapters that do not fit its base, and a refused load leaves nothing behind."""

from __future__ import annotations

import json
import shutil

import peft
import pytest
import safetensors.torch
import torch
from conftest import build_tiny_model

from moot.nodes import LocalEngine, LocalModelPool, SamplingParams
from moot.nodes.serving.adapter_validation import AdapterRejected
from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
EXAMPLES = [TrainingExample(f"r{i}", "solver", QUESTION, "apple") for i in range(4)]


def train(base, folder, rank: int = 8):
    config = LoraTrainingConfig(rank=rank, alpha=2 * rank, learning_rate=1e-2, max_steps=2, batch_size=4, dropout=0.0)
    train_lora_adapter(base, EXAMPLES, folder, role="solver", config=config)
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("base"), seed=0)


@pytest.fixture(scope="module")
def good(base, tmp_path_factory):
    return train(base, tmp_path_factory.mktemp("good") / "adapter")


def answers(engine: LocalEngine) -> list[str]:
    return [c.text for c in engine.generate([QUESTION], SamplingParams(max_new_tokens=6))]


def broken_copy(good, tmp_path, name):
    folder = tmp_path / name
    shutil.copytree(good, folder)
    return folder


def refusals(base, good, tmp_path_factory):
    """(description, adapter folder, the message the refusal must contain) for every misfit."""
    tmp = tmp_path_factory.mktemp("refused")
    truncated = broken_copy(good, tmp, "truncated")
    weights = truncated / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    no_weights = broken_copy(good, tmp, "no-weights")
    (no_weights / "adapter_model.safetensors").unlink()
    other_base = train(build_tiny_model(tmp / "other-base", seed=7), tmp / "other-base-adapter")
    wider = train(build_tiny_model(tmp / "wider-base", seed=0, hidden_size=48), tmp / "wider-adapter")
    no_rank = broken_copy(good, tmp, "no-rank")
    config = json.loads((no_rank / "adapter_config.json").read_text())
    del config["r"]
    (no_rank / "adapter_config.json").write_text(json.dumps(config))
    no_manifest = broken_copy(good, tmp, "no-manifest")
    (no_manifest / "moot_manifest.json").unlink()
    diverged = broken_copy(good, tmp, "diverged")
    tensors = safetensors.torch.load_file(diverged / "adapter_model.safetensors")
    first = sorted(tensors)[0]
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    safetensors.torch.save_file(tensors, diverged / "adapter_model.safetensors")
    return [
        ("rank above the limit", train(base, tmp / "rank16", rank=16), "outside this pool's limit"),
        ("no manifest naming its base", no_manifest, "cannot be told apart from an adapter for another base"),
        ("NaN weights", diverged, "holds NaN or infinite values"),
        ("truncated weights", truncated, "incomplete"),
        ("config without weights", no_weights, "no weights"),
        ("same shapes, another base", other_base, "another base model"),
        ("another hidden size", wider, "made for another model"),
        ("config without a rank", no_rank, "no valid rank"),
    ]


def test_every_misfit_is_refused_and_the_role_keeps_serving(base, good, tmp_path_factory):
    pool = LocalModelPool(LocalEngine.from_pretrained(base, dtype="float32", max_lora_rank=8))
    version = pool.publish("solver", good)
    serving = answers(pool.engine)
    for description, folder, message in refusals(base, good, tmp_path_factory):
        with pytest.raises(AdapterRejected, match=message):
            pool.publish("solver", folder)
        assert pool.engine.adapters == {version}, description
        assert pool.registry.current("solver") == version, description
    assert answers(pool.engine) == serving


def test_a_load_that_fails_after_peft_wrapped_the_base_is_undone(base, good, monkeypatch):
    engine = LocalEngine.from_pretrained(base, dtype="float32")
    plain, before = engine.model, answers(engine)

    def fail(*args, **kwargs):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(peft.PeftModel, "load_adapter", fail)
    with pytest.raises(RuntimeError, match="disk went away"):
        engine.load_adapter("a", good)
    assert engine.model is plain and engine.adapters == set()
    assert not any(isinstance(m, peft.tuners.lora.LoraLayer) for m in engine.model.modules())
    assert answers(engine) == before
    monkeypatch.undo()
    engine.load_adapter("a", good)  # and a good load still works afterwards
    assert engine.adapters == {"a"}


def test_an_interrupted_training_leaves_no_adapter_folder(base, tmp_path, monkeypatch):
    from moot.training import lora_training

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lora_training.AdapterManifest, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        train(base, tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()


def test_an_adapter_from_elsewhere_loads_only_when_the_pool_trusts_unverified_ones(base, good, tmp_path):
    foreign = broken_copy(good, tmp_path, "from-elsewhere")
    (foreign / "moot_manifest.json").unlink()
    trusting = LocalModelPool(LocalEngine.from_pretrained(base, dtype="float32", allow_unverified_adapters=True))
    assert trusting.registry.current("solver") is None
    version = trusting.publish("solver", foreign)
    assert trusting.registry.current("solver") == version and trusting.engine.adapters == {version}


def test_publishing_after_a_hand_unload_swaps_without_an_error(base, good):
    pool = LocalModelPool(LocalEngine.from_pretrained(base, dtype="float32"))
    first = pool.publish("solver", good)
    second = pool.publish("solver", good)
    pool.unload(first)  # by hand: the rollback target is gone
    third = pool.publish("solver", good)
    assert pool.registry.current("solver") == third and pool.engine.adapters == {second, third}
