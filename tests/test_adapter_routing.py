"""A batch of one adapter (or none) skips peft's per-row routing, and every row still gets its own weights."""

from __future__ import annotations

import pytest
import torch

from moot.nodes import LocalEngine
from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = LoraTrainingConfig(rank=8, alpha=16, learning_rate=1e-2, max_steps=10, batch_size=4, dropout=0.0)


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("routing-adapters")
    for answer in ("apple", "banana"):
        examples = [TrainingExample(f"{answer}-{i}", "solver", QUESTION, answer) for i in range(8)]
        train_lora_adapter(tiny_model_dir, examples, folder / answer, role="solver", config=FAST)
    return folder / "apple", folder / "banana"


def logits(engine: LocalEngine, adapters: list[str | None]) -> torch.Tensor:
    ids = torch.tensor([engine.prompt_ids(QUESTION)] * len(adapters))
    return engine.forward(adapters, input_ids=ids).logits


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_base_batch_with_adapters_loaded_is_the_base_models_own(tiny_model_dir, adapters):
    plain = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("apple", adapters[0])
    logits(engine, ["apple"])  # the layers were last set to the adapter
    assert torch.equal(logits(engine, [None, None]), logits(plain, [None, None]))


def test_each_row_of_a_mixed_batch_gets_what_it_gets_alone(tiny_model_dir, adapters):
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("apple", adapters[0])
    engine.load_adapter("banana", adapters[1])
    alone = {name: logits(engine, [name])[0] for name in ("apple", None, "banana")}
    mixed = logits(engine, ["apple", None, "banana"])
    for row, name in enumerate(("apple", None, "banana")):
        assert close(mixed[row], alone[name]), name
    assert not close(alone["apple"], alone[None]) and not close(alone["apple"], alone["banana"])
    assert close(logits(engine, ["banana"])[0], alone["banana"])  # and back from the mixed batch


def test_the_layers_follow_adapters_loaded_and_dropped(tiny_model_dir, adapters):
    plain = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    only_banana = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    only_banana.load_adapter("banana", adapters[1])
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("apple", adapters[0])
    apple = logits(engine, ["apple"])
    engine.load_adapter("banana", adapters[1])
    assert torch.equal(logits(engine, ["apple"]), apple)
    engine.unload_adapter("apple")
    assert torch.equal(logits(engine, ["banana"]), logits(only_banana, ["banana"]))
    logits(engine, [None])  # layers off ...
    engine.unload_adapter("banana")  # ... the last adapter goes: the model is unwrapped
    engine.load_adapter("banana", adapters[1])  # and wrapped again, its layers on
    assert torch.equal(logits(engine, [None]), logits(plain, [None]))


def test_an_adapter_may_be_called_anything(tiny_model_dir, adapters):
    # a name equal to one of the routing's own markers must still switch the layers on
    apple = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    apple.load_adapter("apple", adapters[0])
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.load_adapter("unknown", adapters[0])
    engine.load_adapter("mixed batch", adapters[1])
    logits(engine, [None])  # layers off; the next load forgets that
    engine.load_adapter("spare", adapters[1])
    assert torch.equal(logits(engine, ["unknown"]), logits(apple, ["apple"]))
