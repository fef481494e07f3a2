"""Shared prompt prefixes are prefilled once: fewer tokens computed, the same cache and logits."""

from __future__ import annotations

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
    question = [{"role": "system", "content": "You are a careful calculator."}, {"role": "user", "content": "2 + 2?"}]
    return [question, question, question,
            [{"role": "system", "content": "You are a careful calculator."}, {"role": "user", "content": "17 + 25?"}],
            [{"role": "user", "content": "Name a fruit."}]]


def test_the_shared_path_gives_each_row_the_cache_and_logits_of_a_full_prefill(engine):
    prompts = [engine.prompt_ids(c) for c in conversations()]
    plan = plan_prefixes(prompts, [None] * len(prompts), min_tokens=4)
    assert plan is not None and plan.saved_tokens > 0
    rows = [SimpleNamespace(request=SimpleNamespace(adapter=None)) for _ in prompts]
    batcher = ContinuousBatcher(engine)
    full, full_mask = batcher._prefill(rows, prompts, None)
    shared, shared_mask = batcher._prefill(rows, prompts, plan)
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
