"""Pieces every loop shares: play logged episodes with a progress bar; train and hot-swap roles."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Sequence

from langgraph.graph.state import CompiledStateGraph
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from moot.nodes.serving.compute_dtype import DtypeChoice, dtype_name, resolve_dtype
from moot.nodes.serving.local_engine import LocalEngine
from moot.nodes.serving.model_pool import LocalModelPool, ModelPool
from moot.stores import ExperienceLogger
from moot.training import LoraTrainingConfig, NotEnoughData, TrainingExample, train_lora_adapter

logger = logging.getLogger(__name__)


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
    """

    backend: Literal["local", "vllm"] = "local"
    base_url: str | None = None
    max_loras: int = 4
    max_lora_rank: int = 16
    request_timeout_s: float = 120.0
    dtype: DtypeChoice = "auto"
    api_key: str | None = field(default=None, repr=False)

    @property
    def resolved_dtype(self) -> str:
        """The dtype ``auto`` stands for on this machine (what a run records)."""
        return dtype_name(resolve_dtype(self.dtype))

    def make_pool(self, base_model_dir: Path, adapters_root: Path | None = None) -> ModelPool:
        if self.backend == "local":
            return LocalModelPool(LocalEngine.from_pretrained(base_model_dir, dtype=self.dtype))
        if self.backend == "vllm":
            if not self.base_url:
                raise ValueError("the vllm backend needs --base-url, e.g. http://127.0.0.1:8000/v1 (see `moot serve`)")
            from moot.nodes.serving.vllm_pool import VLLMModelPool

            return VLLMModelPool(self.base_url, max_loras=self.max_loras, max_lora_rank=self.max_lora_rank,
                                 timeout_s=self.request_timeout_s, base_model_dir=base_model_dir,
                                 adapters_root=adapters_root,
                                 api_key=self.api_key or os.environ.get("MOOT_API_KEY") or "EMPTY")
        raise ValueError(f"unknown backend {self.backend!r}; use local or vllm")


@dataclass
class RunConfig:
    """The settings every run has, whatever it plays (the loops' configs extend it).

    Attributes:
        seed: Seeds sampling and training, so a run can be repeated from its config.
        max_examples_per_role: Cap on each role's training set (a CPU time budget).
        run_dir: The run folder.
        library: Chroma location (a folder, or ``http://host:port``); default: in the run folder.
        model_dir: Base model folder; default: the embedded SmolLM2.
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


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Record how long the block took, in seconds, as ``timings[key]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(time.perf_counter() - started, 1)


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def run_episodes(
    graph: CompiledStateGraph,
    inputs: Sequence[dict[str, Any]],
    metadata: Sequence[dict[str, Any]],
    experience: ExperienceLogger,
    console: Console,
    label: str,
    concurrency: int = 32,
) -> list[dict | None]:
    """Run one episode per input, all logged; a failed episode gives None (and a warning)."""
    configs = [{"callbacks": [experience], "max_concurrency": concurrency, "metadata": m} for m in metadata]
    results: list[dict | None] = [None] * len(inputs)
    failures = 0
    try:
        with progress_bar(console) as progress:
            bar = progress.add_task(label, total=len(inputs))
            for index, output in graph.batch_as_completed(list(inputs), configs, return_exceptions=True):
                if isinstance(output, BaseException):
                    failures += 1
                    logger.warning("episode %s failed: %s", metadata[index].get("episode"), output)
                else:
                    results[index] = output
                progress.advance(bar)
    finally:  # on Ctrl-C or SIGTERM too: finished episodes are written, not lost
        experience.flush()
    if failures:
        console.print(f"[yellow]{failures} of {len(inputs)} episodes failed (see the log); they count as failures[/]")
    return results


def train_roles(
    sets: dict[str, list[TrainingExample]],
    roles: Sequence[str],
    pool: ModelPool,
    base_model_dir: Path,
    adapters_dir: Path,
    iteration: int,
    config: LoraTrainingConfig,
    console: Console,
    max_examples: int | None = None,
    init_adapters: dict[str, Path] | None = None,
    publish: bool = True,
) -> list[dict[str, Any]]:
    """Train one adapter per role on its examples and hot-swap it in; returns one entry per role.

    A role without examples keeps its current adapter. A role named in ``init_adapters``
    goes on training from that adapter instead of a fresh LoRA. With ``publish=False`` the
    adapters are only written to ``adapters_dir/<role>``, for the caller to publish.
    """
    entries = []
    for role in roles:
        examples = sets.get(role, [])[:max_examples]
        entry: dict[str, Any] = {"iteration": iteration, "role": role, "examples": len(examples)}
        try:
            started = time.perf_counter()
            with progress_bar(console) as progress:
                bar = progress.add_task(f"training {role} on {len(examples)} examples", total=None)

                def on_step(step: int, total: int, loss: float | None) -> None:
                    suffix = f", loss {loss:.3f}" if loss is not None else ""
                    progress.update(bar, completed=step, total=total,
                                    description=f"training {role} on {len(examples)} examples{suffix}")

                manifest = train_lora_adapter(base_model_dir, examples, adapters_dir / role, role=role,
                                              iteration=iteration, config=config, on_step=on_step,
                                              init_adapter=(init_adapters or {}).get(role))
            entry.update(train_loss=manifest.train_loss, train_s=round(time.perf_counter() - started, 1))
            console.print(f"{role}: {len(examples)} examples, loss {manifest.train_loss:.3f}")
            if publish:
                entry["version"] = pool.publish(role, adapters_dir / role)
                console.print(f"{role}: now serving {entry['version']}")
        except NotEnoughData:
            entry["version"] = pool.registry.current(role)
            console.print(f"[yellow]{role}: no successful trajectories; it keeps its current adapter[/]")
        entries.append(entry)
    return entries
