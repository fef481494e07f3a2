"""Pieces every loop shares: play logged episodes with a progress bar; train and hot-swap roles."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from langgraph.graph.state import CompiledStateGraph
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from moot.nodes.serving.model_pool import ModelPool
from moot.stores import ExperienceLogger
from moot.training import LoraTrainingConfig, NotEnoughData, train_lora_adapter
from moot.training.preferences import TrainingData

logger = logging.getLogger(__name__)


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


_ITEMS = {"sft": "examples", "dpo": "preference pairs", "kto": "judged calls", "grpo": "prompts"}


def train_roles(
    sets: dict[str, list[TrainingData]],
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
    """Train one adapter per role on its data (by its objective in ``config``) and hot-swap it in; returns one entry per role.

    A role without examples keeps its current adapter. A role named in ``init_adapters``
    goes on training from that adapter instead of a fresh LoRA. With ``publish=False`` the
    adapters are only written to ``adapters_dir/<role>``, for the caller to publish.
    """
    entries = []
    for role in roles:
        examples = sets.get(role, [])[:max_examples]
        objective = config.objective_for(role)
        what = f"{len(examples)} {_ITEMS[objective]}"
        entry: dict[str, Any] = {"iteration": iteration, "role": role, "examples": len(examples)}
        if objective != "sft":
            entry["objective"] = objective
        try:
            started = time.perf_counter()
            with progress_bar(console) as progress:
                bar = progress.add_task(f"training {role} on {what}", total=None)

                def on_step(step: int, total: int, loss: float | None) -> None:
                    suffix = f", loss {loss:.3f}" if loss is not None else ""
                    progress.update(bar, completed=step, total=total,
                                    description=f"training {role} on {what}{suffix}")

                manifest = train_lora_adapter(base_model_dir, examples, adapters_dir / role, role=role,
                                              iteration=iteration, config=config, on_step=on_step,
                                              init_adapter=(init_adapters or {}).get(role))
            entry.update(train_loss=manifest.train_loss, train_s=round(time.perf_counter() - started, 1))
            console.print(f"{role}: {what}, loss {manifest.train_loss:.3f}")
            if publish:
                entry["version"] = pool.publish(role, adapters_dir / role)
                console.print(f"{role}: now serving {entry['version']}")
        except NotEnoughData:
            entry["version"] = pool.registry.current(role)
            console.print(f"[yellow]{role}: no {_ITEMS[objective]} to learn from; it keeps its current adapter[/]")
        entries.append(entry)
    return entries
