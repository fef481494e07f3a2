"""The engine multiplies by float16 copies of a float32 model's weights: the base stays
bit-identical, LoRA rows and tied heads work as before, and gradients still reach float32."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import AutoModelForCausalLM

from moot.nodes import LocalEngine
from moot.nodes.serving.transformers_warnings import quiet_checkpointing_deprecation
from moot.nodes.serving.half_weights import HalfWeightLinear, decoding, half_weights_available, use_half_weights

pytestmark = pytest.mark.skipif(not half_weights_available(), reason="this torch build has no fbgemm")


def test_a_half_weight_layer_multiplies_by_the_float16_rounded_weight():
    layer = torch.nn.Linear(64, 48)
    torch.nn.init.normal_(layer.weight, std=0.5)  # wide enough that float16 rounding shows
    half = HalfWeightLinear(layer)
    x = torch.randn(5, 64)
    with torch.inference_mode():
        rounded = torch.nn.functional.linear(x, layer.weight.half().float(), layer.bias)
        exact = layer(x)
        with decoding():
            got = half(x)
        assert torch.equal(half(x), exact)  # outside a decode step: the float32 weight itself
    assert torch.allclose(got, rounded, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got, exact, rtol=1e-6, atol=1e-6)  # the copy, not the float32 weight, was used
    # With gradients on, the float32 weight is used and receives them.
    half(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def _lora_folder(model_dir, folder):
    from peft import LoraConfig, get_peft_model

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    with quiet_checkpointing_deprecation():
        get_peft_model(model, config).save_pretrained(folder)
    return folder


def test_the_engine_serves_base_and_lora_rows_through_the_copies(tiny_model_dir, tmp_path):
    plain = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32", half_weights=False,
                                        allow_unverified_adapters=True)
    half = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32", allow_unverified_adapters=True)
    assert half.half_weights_in_use and not plain.half_weights_in_use
    inner = half.model.model
    assert isinstance(half.model.lm_head, HalfWeightLinear) and half.model.lm_head.weight is inner.embed_tokens.weight
    assert all(isinstance(layer.self_attn.q_proj, HalfWeightLinear) for layer in inner.layers)
    assert all(torch.equal(a, b) for a, b in zip(plain.model.state_dict().values(), half.model.state_dict().values()))

    adapter = _lora_folder(tiny_model_dir, tmp_path / "lora")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unverified adapter: this test made it outside moot
        for engine in (plain, half):
            engine.load_adapter("a", adapter)
    q_proj = half.model.base_model.model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj.get_base_layer(), HalfWeightLinear)
    assert type(q_proj.lora_A["a"]) is torch.nn.Linear  # the adapter's own products stay float32

    ids = torch.tensor([half.prompt_ids([{"role": "user", "content": "What is 2 + 2?"}])] * 2)
    assert torch.equal(half.forward(["a", None], input_ids=ids).logits,  # prefill: the float32 weights
                       plain.forward(["a", None], input_ids=ids).logits)
    with decoding():
        logits = {name: engine.forward(["a", None], input_ids=ids).logits for name, engine in
                  (("plain", plain), ("half", half))}
    scale = logits["plain"].abs().max()
    assert (logits["half"] - logits["plain"]).abs().max() < 1e-2 * scale
    assert not torch.equal(logits["half"], logits["plain"])
    assert not torch.equal(logits["half"][0], logits["half"][1])  # the adapter row still differs from the base row
    for engine in (plain, half):
        engine.close()


def test_only_the_batchers_decode_steps_use_the_copies(tiny_model_dir, monkeypatch):
    from moot.nodes import SamplingParams
    from moot.nodes.serving import half_weights

    calls: list[tuple[int, bool]] = []
    original = HalfWeightLinear.forward

    def spy(self, x):
        calls.append((x.shape[-2], half_weights._DECODING.get()))
        return original(self, x)

    monkeypatch.setattr(HalfWeightLinear, "forward", spy)
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    engine.generate([[{"role": "user", "content": "Count to ten."}]] * 2, SamplingParams(max_new_tokens=3, temperature=1.0, seed=0))
    engine.close()
    assert {length for length, copies in calls if copies} == {1}  # decode steps: one token per row
    assert any(length > 1 for length, copies in calls) and not any(copies for length, copies in calls if length > 1)


def test_the_static_scheduler_makes_no_copies(tiny_model_dir):
    static = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32", scheduler="static")
    assert not static.half_weights_in_use
    assert not any(isinstance(module, HalfWeightLinear) for module in static.model.modules())


def test_bfloat16_models_keep_their_layers():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4)).to(torch.bfloat16)
    model.dtype = torch.bfloat16
    assert use_half_weights(model) == 0 and type(model[0]) is torch.nn.Linear
