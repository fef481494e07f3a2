"""Float16 copies of a float32 model's weights for the engine's decode steps (fbgemm).

Decoding a few rows on a CPU is bound by reading the weights from memory, not by arithmetic:
SmolLM2-135M's float32 weights are 540 MB per generated token. fbgemm's float16 linear keeps
a packed float16 copy of each weight and computes in float32 (activations and accumulation
stay float32), so each token reads half the bytes through a kernel faster than MKL's matrix-
vector product. Measured on the 2-core AMD EPYC (AVX2) dev machine at SmolLM2's layer shapes:
2.5x at 1 row, 1.7x at 16-64 rows, but 0.9x at 1,024 rows. So only decode steps (one new token
per row, inside :func:`decoding`) use the copies; prefill keeps the float32 weights. The
relative error of one product is about 2e-4 (float16 keeps 11 significant bits; bfloat16 8).

Each phase always takes the same path, so a request's numbers do not depend on what it was
batched with. The float32 weights stay in place: prefill, likelihoods, peft and adapter
validation read them, and any code that runs with gradients goes through them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from contextvars import ContextVar
from typing import Any, Iterator

import torch

logger = logging.getLogger(__name__)

_DECODING: ContextVar[bool] = ContextVar("moot_half_weights_decoding", default=False)


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Within this block (in this thread), :class:`HalfWeightLinear` layers multiply by their copies."""
    token = _DECODING.set(True)
    try:
        yield
    finally:
        _DECODING.reset(token)


@functools.cache
def half_weights_available() -> bool:
    """Whether this torch build has fbgemm's float16 linear (x86 builds do; ARM builds do not).

    Examples:
        >>> isinstance(half_weights_available(), bool)
        True
    """
    try:
        packed = torch.ops.quantized.linear_prepack_fp16(torch.ones(2, 2), None)
        torch.ops.quantized.linear_dynamic_fp16(torch.ones(1, 2), packed)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return True


class HalfWeightLinear(torch.nn.Linear):
    """A ``torch.nn.Linear`` whose decode products (inside :func:`decoding`) use a packed float16 copy of its weight.

    It shares the original's ``weight`` and ``bias`` parameters (a tied LM head stays tied);
    the copy is taken once, so the weights must not change afterwards.

    Examples:
        >>> layer = torch.nn.Linear(8, 4)
        >>> half = HalfWeightLinear(layer)
        >>> half.weight is layer.weight
        True
        >>> with torch.inference_mode(), decoding():
        ...     torch.allclose(half(torch.ones(3, 8)), layer(torch.ones(3, 8)), atol=1e-3)
        True
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        self.weight = linear.weight
        self.bias = linear.bias
        bias = linear.bias.detach() if linear.bias is not None else None
        self.packed = torch.ops.quantized.linear_prepack_fp16(linear.weight.detach(), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _DECODING.get() or x.dtype != torch.float32 or (torch.is_grad_enabled() and self.weight.requires_grad):
            return super().forward(x)
        return torch.ops.quantized.linear_dynamic_fp16(x, self.packed)


def use_half_weights(model: Any) -> int:
    """Put a :class:`HalfWeightLinear` in place of each of a float32 model's linear layers;
    returns how many (0 where the model is not float32 or fbgemm is missing).

    LoRA layers (peft's ``lora_*`` modules) keep their float32 products: they are small, and an
    adapter may be loaded or dropped at any time.
    """
    if getattr(model, "dtype", None) != torch.float32 or not half_weights_available():
        return 0
    swapped = 0
    for parent_name, parent in list(model.named_modules()):
        if ".lora_" in f".{parent_name}":
            continue
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear and not name.startswith("lora_"):
                setattr(parent, name, HalfWeightLinear(child))
                swapped += 1
    logger.info("float16 weight copies for %d linear layers", swapped)
    return swapped
