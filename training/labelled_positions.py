"""On a CPU, score only the positions that carry a label when trl asks for per-token log-probabilities.

trl's trainers (SFT, DPO, KTO) call ``model(..., labels=labels, fused_lm_head=True)`` and
read per-token log-probabilities from a fused LM head. Where Triton is missing, that head
projects *every* position of the batch through the vocabulary, in fixed-size tiles (fixed
shapes spare compilers such as XLA a recompilation). moot's examples are long prompts with
short replies, and only the reply's tokens carry a label: on SmolLM2, 6 rows of 300 tokens
with 16-token replies, the tiles cost about 11 s a step, where projecting the 96 labelled
positions costs 0.6 s (measured on this project's 2-core machine).

:func:`score_labelled_positions_only` wraps the forward trl installed: on a CPU it runs the
backbone, projects the labelled positions alone, and returns trl's own output type with the
same fields, so the trainers' losses and metrics are unchanged. Elsewhere it defers to trl.
It scores at temperature 1, as trl's SFT, DPO and KTO trainers do (moot installs it for those
three only, in :func:`~moot.training.objectives.build_trainer`).

Examples:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> from trl.trainer.utils import add_fused_lm_head
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    >>> add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    >>> score_labelled_positions_only(model)
    >>> ids = torch.tensor([[1, 2, 3, 4]])
    >>> out = model(input_ids=ids, labels=torch.tensor([[-100, -100, 3, 4]]), fused_lm_head=True)
    >>> out.label_mask.tolist()       # labels shift by one: positions 1 and 2 predict 3 and 4
    [[False, True, True]]
    >>> bool(out.log_probs[0, 0] == 0) and bool(out.log_probs[0, 1] < 0)
    True
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
from trl.trainer.utils import FusedCausalLMOutput


def score_labelled_positions_only(model: Any) -> None:
    """Make ``model``'s fused-LM-head forward (added by trl) project only labelled positions on a CPU.

    Args:
        model: The causal LM trl patched with ``add_fused_lm_head`` (under PEFT, its base model).
    """
    trl_forward = model.forward

    @functools.wraps(type(model).forward)  # ``generate`` checks its keyword arguments against this signature
    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: torch.Tensor | None = None,
                shift_labels: torch.Tensor | None = None, num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        lm_head = self.get_output_embeddings()
        if not fused_lm_head or lm_head.weight.device.type != "cpu" or kwargs.get("output_router_logits"):
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        hidden = self.base_model(*args, **{**kwargs, "use_cache": False}).last_hidden_state
        if shift_labels is None:
            hidden, shift_labels = hidden[:, :-1], labels[:, 1:]  # type: ignore[index]
        mask = shift_labels != -100
        targets = shift_labels[mask]
        logits = lm_head(hidden[mask]).float()
        log_norm = logits.logsumexp(-1)
        log_probs = logits.gather(-1, targets[:, None]).squeeze(-1) - log_norm
        with torch.no_grad():  # what the trainers log (and WPO weights by), as trl computes them
            token_log_probs = logits - log_norm[:, None]
            entropy = -(token_log_probs.exp() * token_log_probs).sum(-1)
            extras = {"entropy": entropy, "is_top1": logits.argmax(-1) == targets, "mean_logits": logits.mean(-1),
                      "log_sum_sq_probs": (2 * token_log_probs).logsumexp(-1)}

        def per_token(values: torch.Tensor) -> torch.Tensor:
            # masked_scatter keeps a batch with no labelled token connected to the graph (a zero loss, not an error)
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(loss=-log_probs.sum() / count, log_probs=per_token(log_probs), label_mask=mask,
                                   **{name: per_token(values) for name, values in extras.items()})

    model.forward = types.MethodType(forward, model)
