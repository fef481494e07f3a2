"""Train a LoRA adapter in a separate process with its own thread budget, so serving keeps answering.

A process of its own (not a thread) keeps the trainer's Python work off the serving
process's interpreter lock, and its own ``torch`` thread count keeps its matrix work to the
cores it was given.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from .adapter_manifest import AdapterManifest
from .examples import TrainingExample
from .lora_sft import LoraTrainingConfig


class TrainingCancelled(RuntimeError):
    """The training was stopped on request before it finished."""


def _train(messages: Any, threads: int, args: tuple, kwargs: dict[str, Any]) -> None:
    import torch

    from .lora_sft import train_lora_adapter

    torch.set_num_threads(threads)
    try:
        manifest = train_lora_adapter(*args, **kwargs, on_step=lambda *step: messages.put(("step", step)))
        messages.put(("done", manifest))
    except BaseException as error:  # noqa: BLE001 - the parent re-raises it
        messages.put(("error", error))


def train_lora_adapter_in_subprocess(
    base_model_dir: str | Path,
    examples: Sequence[TrainingExample],
    output_dir: str | Path,
    *,
    role: str,
    iteration: int = 0,
    config: LoraTrainingConfig = LoraTrainingConfig(),
    init_adapter: str | Path | None = None,
    threads: int = 1,
    on_step: Callable[[int, int, float | None], None] | None = None,
    timeout_s: float = 3600.0,
    cancel: threading.Event | None = None,
) -> AdapterManifest:
    """:func:`~moot.training.train_lora_adapter` in a spawned process using ``threads`` CPU threads.

    Setting ``cancel`` stops the training within a second (nothing is written).

    Raises:
        TrainingCancelled: if ``cancel`` was set.
        Exception: whatever the training raised in the child (``NotEnoughData``, a bad setting...).
        RuntimeError: if the child died without an answer (killed, out of memory).
        TimeoutError: if it ran past ``timeout_s`` (it is then stopped).
    """
    context = multiprocessing.get_context("spawn")  # a fork would copy the serving threads' locks
    messages = context.Queue()
    kwargs = {"role": role, "iteration": iteration, "config": config, "init_adapter": init_adapter}
    child = context.Process(target=_train, args=(messages, threads, (str(base_model_dir), list(examples), str(output_dir)),
                                                 kwargs), name=f"moot-train-{role}", daemon=True)
    child.start()
    try:
        waited = 0.0
        while True:
            try:
                kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                if cancel is not None and cancel.is_set():
                    raise TrainingCancelled(f"training {role} was cancelled")
                if not child.is_alive():
                    raise RuntimeError(f"training {role} stopped with exit code {child.exitcode} and no result")
                if waited > timeout_s:
                    raise TimeoutError(f"training {role} ran past {timeout_s} s")
                continue
            if kind == "step":
                if on_step is not None:
                    on_step(*payload)
            elif kind == "error":
                raise payload
            else:
                return payload
    finally:
        if child.is_alive():
            child.join(5.0)
        if child.is_alive():
            child.terminate()
            child.join()
