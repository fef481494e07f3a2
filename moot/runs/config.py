"""The settings every run has: where the models run (:class:`BackendConfig`) and the run's own (:class:`RunConfig`).

Configs live in light modules beside what they configure (trl's pattern), so that the CLI
reads their defaults and help without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from moot.nodes.serving.compute_dtype import DtypeChoice, dtype_name, resolve_dtype

Backend = Literal["local", "vllm"]


@dataclass
class BackendConfig:
    """Where the models run.

    Attributes:
        backend: ``local`` (transformers in this process) or ``vllm`` (an OpenAI-compatible
            vLLM server started with ``--enable-lora``; see ``moot serve``).
        base_url: The vLLM server's ``/v1`` URL.
        max_loras, max_lora_rank: The server's limits, checked before every adapter load.
        request_timeout_s: How long one request may take, time queued on the server included.
        api_key: The vLLM server's API key (default: ``$MOOT_API_KEY``); never written to a run's config.
        dtype: Compute type of the local engine and of training: ``auto`` (bfloat16 where the
            CPU has bf16 matrix units and a probe shows it faster, else float32), ``float32``
            or ``bfloat16``.
        half_weights: The local engine's decode steps multiply by float16 copies of a float32
            model's weights: faster tokens for a relative error of about 2e-4 per product (x86
            CPUs; see :mod:`~moot.nodes.serving.half_weights`).
    """

    backend: Backend = "local"
    base_url: str | None = None
    max_loras: int = 4
    max_lora_rank: int = 16
    request_timeout_s: float = 120.0
    dtype: DtypeChoice = "auto"
    api_key: str | None = field(default=None, repr=False)
    half_weights: bool = True

    @property
    def resolved_dtype(self) -> str:
        """The dtype ``auto`` stands for on this machine (what a run records)."""
        return dtype_name(resolve_dtype(self.dtype))


@dataclass
class RunConfig:
    """The settings every run has, whatever it plays (the loops' configs extend it).

    Attributes:
        seed: Seeds sampling and training, so a run can be repeated from its config.
        max_examples_per_role: Cap on each role's training set (a CPU time budget).
        run_dir: The run folder.
        library: Chroma location (a folder, or ``http://host:port``); default: in the run folder.
        model_dir: Base model folder (any local Hugging Face causal LM with a chat template); default:
            the embedded SmolLM2.
        concurrency: Episodes in flight at once (their model calls batch together).
        flush_every_s: Finished episodes are written to the library at least this often, so
            a kill loses at most this much play (``--resume`` replays it).
        backend: Where the models run, and in which dtype.
    """

    seed: int = 0
    max_examples_per_role: int | None = 64
    run_dir: Path = Path("runs/latest")
    library: str | None = None
    model_dir: Path | None = None
    concurrency: int = 32
    flush_every_s: float = 10.0
    backend: BackendConfig = field(default_factory=BackendConfig)
