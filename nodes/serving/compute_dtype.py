"""Which floating-point type the model computes in, chosen from the machine.

bfloat16 roughly doubles matmul throughput on CPUs with bf16 matrix units (Intel AMX,
AVX512-BF16 on recent Xeon and EPYC parts) and is far slower than float32 on CPUs without
them, so ``auto`` picks it only where the CPU reports such units *and* a short probe at the
embedded model's matrix shapes confirms that it is faster here.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DtypeChoice = Literal["auto", "float32", "bfloat16"]
DTYPE_CHOICES: tuple[str, ...] = get_args(DtypeChoice)

BF16_MATRIX_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
# The probe multiplies at SmolLM2-135M's MLP shape (hidden 576, intermediate 1536) with a
# 256-token batch: what prefill and training do most of.
PROBE_SHAPE = (256, 576, 1536)
# bfloat16 must win by this factor, so that noise on a busy machine does not flip the choice.
PROBE_MIN_SPEEDUP = 1.2


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The feature flags the kernel reports for the first CPU (empty where there is no cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_bf16_matrix_units(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU reports native bf16 matrix instructions (AMX-BF16 or AVX512-BF16).

    Examples:
        >>> has_bf16_matrix_units(frozenset({"avx2", "amx_bf16"})), has_bf16_matrix_units(frozenset({"avx2"}))
        (True, False)
    """
    return bool(BF16_MATRIX_FLAGS & (cpu_flags() if flags is None else flags))


def _matmul_seconds(dtype: torch.dtype, repeats: int = 5) -> float:
    import torch

    m, k, n = PROBE_SHAPE
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # first call pays for kernel selection
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return best


@functools.cache
def bf16_probe_speedup() -> float:
    """How many times faster a bf16 matmul is than float32 here (measured once per process)."""
    import torch

    return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)


@functools.cache
def resolve_dtype(choice: DtypeChoice = "auto") -> torch.dtype:
    """The torch dtype for ``choice``; ``auto`` asks the CPU flags, then the probe.

    Raises:
        ValueError: for a name outside ``auto``, ``float32``, ``bfloat16``.

    Examples:
        >>> resolve_dtype("float32")
        torch.float32
    """
    if choice not in DTYPE_CHOICES:
        raise ValueError(f"unknown dtype {choice!r}; choose one of {', '.join(DTYPE_CHOICES)}")
    import torch  # here, not at the top: configs and the CLI read DtypeChoice without loading torch

    if choice != "auto":
        return getattr(torch, choice)
    if not has_bf16_matrix_units():
        logger.info("dtype auto -> float32: the CPU reports no bf16 matrix units")
        return torch.float32
    speedup = bf16_probe_speedup()
    chosen = torch.bfloat16 if speedup >= PROBE_MIN_SPEEDUP else torch.float32
    logger.info("dtype auto -> %s: bf16 matrix units, probe speed-up %.2fx", dtype_name(chosen), speedup)
    return chosen


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``, the form configs and manifests record."""
    return str(dtype).removeprefix("torch.")
