"""Scoring only the labelled positions gives trl's fused-head outputs and gradients, projecting far fewer rows."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM
from trl.trainer.utils import add_fused_lm_head

from moot.training.labelled_positions import score_labelled_positions_only

FIELDS = ("log_probs", "entropy", "mean_logits", "is_top1", "log_sum_sq_probs")


def fused_model(folder):
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    add_fused_lm_head(model, outputs=FIELDS)
    return model


def batch() -> dict[str, torch.Tensor]:
    """Two rows of 12 tokens, the second padded; only each row's last few tokens are labelled (a reply)."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(10, 1000, (2, 12), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 9:] = 0
    labels = torch.full_like(input_ids, -100)
    labels[0, 8:] = input_ids[0, 8:]
    labels[1, 6:9] = input_ids[1, 6:9]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@pytest.mark.parametrize("num_items_in_batch", [None, torch.tensor(5)])
def test_the_outputs_and_gradients_are_trls(tiny_model_dir, num_items_in_batch):
    reference, ours = fused_model(tiny_model_dir), fused_model(tiny_model_dir)
    score_labelled_positions_only(ours)
    results = []
    for model in (reference, ours):
        out = model(**batch(), fused_lm_head=True, num_items_in_batch=num_items_in_batch)
        out.loss.backward()
        results.append((out, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (expected, expected_grads), (got, got_grads) = results
    assert torch.allclose(got.loss, expected.loss, rtol=1e-5)
    assert torch.equal(got.label_mask, expected.label_mask) and int(got.label_mask.sum()) == 7
    for field in FIELDS:
        assert torch.allclose(getattr(got, field).float(), getattr(expected, field).float(), rtol=1e-4, atol=1e-5), field
    assert got_grads.keys() == expected_grads.keys() and got_grads
    for name, grad in expected_grads.items():
        assert torch.allclose(got_grads[name], grad, rtol=1e-3, atol=1e-6), name


def test_only_the_labelled_positions_go_through_the_lm_head(tiny_model_dir):
    model = fused_model(tiny_model_dir)
    score_labelled_positions_only(model)
    rows = []
    model.get_output_embeddings().register_forward_hook(lambda module, args, output: rows.append(args[0].shape[0]))
    model(**batch(), fused_lm_head=True)
    assert rows == [7]  # of 2 x 11 scored positions


def test_without_the_fused_head_the_model_is_its_own(tiny_model_dir):
    model = fused_model(tiny_model_dir)
    before = model(input_ids=batch()["input_ids"]).logits
    score_labelled_positions_only(model)
    assert torch.equal(model(input_ids=batch()["input_ids"]).logits, before)
