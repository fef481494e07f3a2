"""The one run loop every driver shares: run folder, settings, pool, library, phases, training, report.

A driver (``moot improve``, ``moot selfplay``) subclasses :class:`RunDriver`, makes its
report, and writes its ``run()`` as a sequence of :meth:`RunDriver.phase` calls. It then gets,
with no code of its own:

* a run folder that belongs to this run (a unique run id on every record; refusal,
  ``--resume`` and ``--overwrite``), with servers checked before anything is written;
* resume: a phase finished before a crash is not redone, its results come back into the
  report, and the adapters it published are served again;
* one episode-id format and one way to play logged episodes;
* one way to train and publish roles.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar

import torch
from langgraph.graph.state import CompiledStateGraph
from rich.console import Console

from moot.nodes.serving.embedded_model import embedded_model_dir
from moot.nodes.serving.local_engine import LocalEngine
from moot.nodes.serving.adapter_validation import base_fingerprint
from moot.nodes.serving.model_pool import LocalModelPool, ModelPool
from moot.evaluation.report import RunReport
from moot.runs.folder import RunMode, RunProgress, claim_run_folder
from moot.runs.config import BackendConfig
from moot.runs.episodes import run_episodes, timed, train_roles
from moot.stores import Annotator, ExperienceLibrary, ExperienceLogger
from moot.training import LoraTrainingConfig
from moot.training.preferences import TrainingData

ReportT = TypeVar("ReportT", bound=RunReport)


def _json_value(value: Any) -> str:
    # A function (an answer parser) is recorded by name, not by its address in this process.
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return str(value)


def episode_id(split: str, label: str, iteration: int, item: str) -> str:
    """The one episode-id format: ``<split>/<setting>/it<iteration>/<problem or game>``.

    Examples:
        >>> episode_id("train", "debate", 1, "sum2-7")
        'train/debate/it1/sum2-7'
    """
    return f"{split}/{label}/it{iteration}/{item}"


def make_pool(backend: BackendConfig, base_model_dir: Path, adapters_root: Path | None = None) -> ModelPool:
    """A pool of the base model where ``backend`` says: in this process, or on a vLLM server."""
    if backend.backend == "local":
        engine = LocalEngine.from_pretrained(base_model_dir, dtype=backend.dtype, half_weights=backend.half_weights)
        return LocalModelPool(engine)
    if backend.backend == "vllm":
        if not backend.base_url:
            raise ValueError("the vllm backend needs --base-url, e.g. http://127.0.0.1:8000/v1 (see `moot serve`)")
        from moot.nodes.serving.vllm_pool import VLLMModelPool

        return VLLMModelPool(backend.base_url, max_loras=backend.max_loras, max_lora_rank=backend.max_lora_rank,
                             timeout_s=backend.request_timeout_s, base_model_dir=base_model_dir,
                             adapters_root=adapters_root,
                             api_key=backend.api_key or os.environ.get("MOOT_API_KEY") or "EMPTY")
    raise ValueError(f"unknown backend {backend.backend!r}; use local or vllm")


class RunDriver(Generic[ReportT]):
    """The skeleton of a run; see the module docstring.

    Args:
        config: A loop config with ``run_dir``, ``library``, ``model_dir``, ``seed``,
            ``backend``, ``concurrency`` and ``flush_every_s``.
        pool: Serve the roles from this pool instead of one built from ``config.backend``.
        mode: ``new``, ``resume`` or ``overwrite`` (see :func:`moot.runs.folder.claim_run_folder`).
    """

    def __init__(self, config: Any, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new") -> None:
        self.config = config
        self.console = console or Console()
        self.run_dir = Path(config.run_dir)
        backend: BackendConfig = config.backend
        self.base_model_dir = Path(config.model_dir) if config.model_dir else embedded_model_dir()
        # Servers are reached before anything is written or the model loads, so a wrong URL
        # costs a second, not a model load and a stray run folder.
        external = ExperienceLibrary(config.library) if config.library else None
        if pool is None and backend.backend == "vllm":
            pool = make_pool(backend, self.base_model_dir, adapters_root=self.run_dir / "adapters")
        existed = self.run_dir.exists()
        self.settings = self._claim(mode, external)
        self.run_id: str = self.settings["run_id"]
        torch.manual_seed(config.seed)  # unseeded sampling draws from here
        try:
            self.library = external or ExperienceLibrary(self.run_dir / "library")
            self.pool = pool or make_pool(backend, self.base_model_dir)
        except BaseException:
            if mode != "resume" and not existed:  # a failed start leaves nothing behind
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise
        self.progress = RunProgress(self.run_dir)
        if mode == "resume":
            self.progress.check_library(self.library.count(run=self.run_id), self.library.location)
        self.report: ReportT = self.new_report(self.settings)

    def _claim(self, mode: RunMode, external: ExperienceLibrary | None) -> dict[str, Any]:
        """Claim the run folder (see :func:`~moot.runs.folder.claim_run_folder`); return the settings saved there.

        The settings record the run id, the dtype ``auto`` chose on this machine and the base
        model's fingerprint (a hash of its config and weights: a resume on other weights is
        refused as other settings); an overwritten run's records are deleted from an
        ``external`` library.
        """
        backend: BackendConfig = self.config.backend
        settings = json.loads(json.dumps(asdict(self.config), default=_json_value))
        settings["resolved_dtype"] = backend.resolved_dtype
        settings["model_fingerprint"] = base_fingerprint(self.base_model_dir)
        settings["backend"]["api_key"] = "(set)" if backend.api_key else None  # a secret never lands in a file
        forget = (lambda run_id: external.delete(run=run_id)) if external is not None else None
        settings = claim_run_folder(self.run_dir, settings, mode, forget)
        self.console.print(f"run {settings['run_id']}, compute dtype {settings['resolved_dtype']} (--dtype {backend.dtype})")
        return settings

    def new_report(self, settings: dict[str, Any]) -> ReportT:
        raise NotImplementedError

    # -- phases -----------------------------------------------------------------------------

    def phase(self, key: str, action: Callable[[], None]) -> bool:
        """Run one phase, or take its results when an earlier attempt of this run finished it.

        Returns:
            Whether the phase was done before (and so only restored).
        """
        if self.progress.done(key):
            self.report.restore(self.progress.result(key))
            self.console.print(f"[dim]{key}: finished before this resume; not redone[/]")
            return True
        with timed(self.report.timings_s, key):
            action()
        self.progress.finish(key, self.report.snapshot(), self.library.count(run=self.run_id))
        return False

    def finish(self) -> ReportT:
        """Total the phase timings, save the report and print it."""
        self.report.timings_s["total"] = round(sum(v for k, v in self.report.timings_s.items() if k != "total"), 1)
        json_path, png_path = self.report.save()
        self.console.print(self.report.table())
        self.console.print(f"report: {json_path}  plot: {png_path}")
        return self.report

    # -- playing ----------------------------------------------------------------------------

    def episode_metadata(self, *, iteration: int, split: str, label: str, item: str, protocol: str, task: str,
                         **extra: Any) -> dict[str, Any]:
        """The context every record of one episode carries (the run id included)."""
        return {"run": self.run_id, "iteration": iteration, "task": task, "protocol": protocol, "split": split,
                "setting": label, "episode": episode_id(split, label, iteration, item), **extra}

    def logger(self, annotators: Mapping[str, Annotator]) -> ExperienceLogger:
        return ExperienceLogger(self.library, annotate=annotators, flush_every_s=self.config.flush_every_s)

    def play(self, graph: CompiledStateGraph, inputs: Sequence[dict[str, Any]], metadata: Sequence[dict[str, Any]],
             annotators: Mapping[str, Annotator], label: str) -> list[dict | None]:
        """Run one logged episode per input; a failed episode gives None.

        Evaluation episodes replayed on a resume replace their earlier records (a record's id
        names its invocation, so they would otherwise be kept twice).
        """
        for split, setting, iteration in {(m["split"], m["setting"], m["iteration"]) for m in metadata
                                          if m.get("split") != "train"}:
            self.library.delete(run=self.run_id, split=split, setting=setting, iteration=iteration)
        return run_episodes(graph, inputs, metadata, self.logger(annotators), self.console, label, self.config.concurrency)

    def unplayed(self, items: Sequence[str], *, iteration: int, split: str, label: str) -> list[str]:
        """The items (problems, games) still to play: on the training split, those an earlier
        attempt of this run played to the end are left out (their records are in the library);
        evaluations are played whole again, upserting."""
        if split != "train":
            return list(items)
        finished = {str(r["episode"]) for r in self.library.find(run=self.run_id, iteration=iteration, split=split)
                    if r["error"] is None}
        return [item for item in items if episode_id(split, label, iteration, item) not in finished]

    # -- training ---------------------------------------------------------------------------

    def adapters_dir(self, iteration: int) -> Path:
        return self.run_dir / "adapters" / f"it{iteration}"

    def seeded(self, lora: LoraTrainingConfig, iteration: int) -> LoraTrainingConfig:
        """``lora`` with a training seed of this run and iteration, drawn from the run's seed and ``lora.seed``.

        Each iteration then draws afresh: after a refused gate, GRPO goes on from the same adapter
        on the same training problems, and under one fixed seed it would sample the same replies
        and train the same candidate again. A resumed iteration gets the same seed.
        """
        return replace(lora, seed=random.Random(f"{self.config.seed}/{lora.seed}/{iteration}").getrandbits(31))

    def train(self, sets: dict[str, list[TrainingData]], roles: Sequence[str], iteration: int,
              lora: LoraTrainingConfig, *, init_adapters: dict[str, Path] | None = None,
              publish: bool = True) -> list[dict[str, Any]]:
        """Train one adapter per role into ``adapters/it<iteration>/<role>`` (with :meth:`seeded` settings)
        and (by default) publish it."""
        entries = train_roles(sets, roles, self.pool, self.base_model_dir, self.adapters_dir(iteration), iteration,
                              self.seeded(lora, iteration), self.console, self.config.max_examples_per_role,
                              init_adapters, publish)
        self.report.training.extend(entries)
        return entries

    def trained(self, iteration: int) -> dict[str, Path]:
        """``role -> adapter folder`` for the roles that trained an adapter in ``iteration``."""
        return {entry["role"]: self.adapters_dir(iteration) / entry["role"] for entry in self.report.training
                if entry["iteration"] == iteration and entry.get("train_loss") is not None}

    def served_adapters(self) -> dict[str, Path]:
        """``role -> adapter folder`` of the latest adapter each role was given (published, or passed by a gate)."""
        served: dict[str, Path] = {}
        for entry in sorted(self.report.training, key=lambda e: e["iteration"]):
            if entry.get("train_loss") is not None and entry.get("version"):
                served[entry["role"]] = self.adapters_dir(entry["iteration"]) / entry["role"]
        return served

    def republish(self, iteration: int) -> None:
        """Serve an iteration's published adapters again in this process's fresh pool (on resume)."""
        folders = self.trained(iteration)
        for entry in self.report.training:
            if entry["iteration"] == iteration and entry["role"] in folders and "version" in entry:
                entry["version"] = self.pool.publish(entry["role"], folders[entry["role"]])
