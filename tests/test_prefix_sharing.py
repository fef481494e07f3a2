"""Shared prompt prefixes are prefilled once: fewer tokens computed, the same cache and logits."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from moot.nodes import LocalEngine, SamplingParams
from moot.nodes.serving.continuous_batching import ContinuousBatcher
from moot.nodes.serving.prefix_sharing import plan_prefixes


def test_only_rows_of_one_adapter_with_enough_common_tokens_share():
    prompts = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [1, 2, 3, 4, 7]]
    assert plan_prefixes(prompts, ["a", "b", None], min_tokens=2) is None  # three adapters: nothing in common
    assert plan_prefixes(prompts, [None] * 3, min_tokens=5) is None  # fewer common tokens than asked
    plan = plan_prefixes(prompts, ["a", "a", "b"], min_tokens=2)
    assert plan.row_group == [0, 0, 1] and plan.saved_tokens == 4
    # two debates in one batch: each shares its question, not only the opening both have
    first, second = [7] * 6 + [1] * 6, [7] * 6 + [2] * 6
    plan = plan_prefixes([first + [i] for i in range(3)] + [second + [i] for i in range(3)], [None] * 6, min_tokens=4)
    assert [g.length for g in plan.groups] == [12, 12] and plan.saved_tokens == 2 * 2 * 12
    # identical prompts share all but their last token, which each row computes itself
    same = plan_prefixes([[1, 2, 3]] * 3, [None] * 3, min_tokens=1)
    assert [g.length for g in same.groups] == [2] and same.saved_tokens == 4


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")


def conversations() -> list[list[dict[str, str]]]:
    question = [{"role": "system", "content": "You are a careful calculator: answer every question with one number and nothing else."}, {"role": "user", "content": "2 + 2?"}]
    return [question, question, question,
            [{"role": "system", "content": "You are a careful calculator: answer every question with one number and nothing else."}, {"role": "user", "content": "17 + 25?"}],
            [{"role": "user", "content": "Name a fruit."}]]


def test_the_shared_path_gives_each_row_the_cache_and_logits_of_a_full_prefill(engine):
    prompts = [engine.prompt_ids(c) for c in conversations()]
    plan = plan_prefixes(prompts, [None] * len(prompts), min_tokens=4)
    assert plan is not None and plan.saved_tokens > 0
    rows = [SimpleNamespace(request=SimpleNamespace(adapter=None)) for _ in prompts]
    batcher = ContinuousBatcher(engine)
    full, full_mask, full_computed = batcher._prefill_at_once(rows, prompts, cache_prefixes=False)
    hits = [(0, None)] * len(plan.groups)  # nothing cached: the prefixes are computed here
    shared, shared_mask, computed = batcher._prefill_shared(rows, prompts, plan, hits)
    assert full_computed - computed == plan.saved_tokens
    torch.testing.assert_close(shared.logits[:, -1], full.logits[:, -1], rtol=1e-4, atol=1e-4)
    for row, prompt in enumerate(prompts):
        assert int(shared_mask[row].sum()) == int(full_mask[row].sum()) == len(prompt)
        for a, b in zip(shared.cache.layers, full.cache.layers):  # the keys and values at the row's real tokens
            torch.testing.assert_close(a.keys[row][:, shared_mask[row] == 1], b.keys[row][:, full_mask[row] == 1],
                                       rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(a.values[row][:, shared_mask[row] == 1], b.values[row][:, full_mask[row] == 1],
                                       rtol=1e-4, atol=1e-4)


def test_the_engine_counts_the_prefill_tokens_it_saved(engine):
    question = conversations()[0]
    length = len(engine.prompt_ids(question))
    engine.prefix_cache.forget(None)  # nothing from the tests before: only the batch's own sharing counts
    engine.prefill_tokens = engine.prefill_tokens_saved = 0
    engine.generate([question] * 4, SamplingParams(max_new_tokens=2, temperature=0.0))
    assert engine.prefill_tokens_saved == 3 * (length - 1) and engine.prefill_tokens == length + 3
    engine.min_shared_prefix = 0  # off: every token of every prompt is computed
    try:
        engine.prefill_tokens = engine.prefill_tokens_saved = 0
        engine.generate([question] * 4, SamplingParams(max_new_tokens=2, temperature=0.0))
        assert engine.prefill_tokens_saved == 0 and engine.prefill_tokens == 4 * length
    finally:
        engine.min_shared_prefix = 16


def test_a_later_request_starts_from_the_cached_prefix_of_an_earlier_one(tiny_model_dir):
    cached = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    plain = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32", min_shared_prefix=0)
    first, second = conversations()[0], conversations()[3]  # the same system prompt, other questions
    params = SamplingParams(max_new_tokens=2, temperature=0.0)
    cached.generate([first], params)
    assert len(cached.prefix_cache) == 1
    cached.prefill_tokens = cached.prefill_tokens_saved = 0
    cached.generate([second], params)
    prompt, opening = cached.prompt_ids(second), len(os.path.commonprefix([cached.prompt_ids(first), cached.prompt_ids(second)]))
    assert opening >= 16 and cached.prefill_tokens_saved == opening and cached.prefill_tokens == len(prompt) - opening
    # the row starts from the cached keys and values, and ends with the logits of a full prefill
    rows = [SimpleNamespace(request=SimpleNamespace(adapter=None))]
    reused, _, computed = ContinuousBatcher(cached)._prefill(rows, [prompt])
    full, _, _ = ContinuousBatcher(plain)._prefill(rows, [prompt])
    assert computed < len(prompt)
    torch.testing.assert_close(reused.logits[:, -1], full.logits[:, -1], rtol=1e-4, atol=1e-4)


def test_an_adapter_s_cached_prefixes_go_when_it_is_unloaded(tiny_model_dir, tmp_path):
    from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    question = conversations()[0]
    train_lora_adapter(tiny_model_dir, [TrainingExample("r", "solver", question, "4")] * 2, tmp_path / "a",
                       role="solver", config=LoraTrainingConfig(rank=4, alpha=8, max_steps=1, batch_size=2))
    engine.load_adapter("solver_v1", tmp_path / "a")
    engine.generate([question], SamplingParams(max_new_tokens=2, temperature=0.0), adapters=["solver_v1"])
    prefix = engine.prompt_ids(question)[:-1]
    assert engine.prefix_cache.lookup("solver_v1", prefix)[0] == len(prefix)
    assert engine.prefix_cache.lookup(None, prefix)[0] == 0  # the base has other keys and values
    engine.unload_adapter("solver_v1")
    assert engine.prefix_cache.lookup("solver_v1", prefix)[0] == 0
