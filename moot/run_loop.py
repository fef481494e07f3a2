"""The one run loop every driver shares: run folder, settings, pool, library, phases, training, report.

A driver (``moot improve``, ``moot selfplay``) subclasses :class:`RunLoop`, makes its
report, and writes its ``run()`` as a sequence of :meth:`RunLoop.phase` calls. It then gets,
with no code of its own:

* a run folder that belongs to this run (a unique run id on every record; refusal,
  ``--resume`` and ``--overwrite``), with servers checked before anything is written;
* resume: a phase finished before a crash is not redone, its results come back into the
  report, and the adapters it published are served again;
* one episode-id format and one way to play logged episodes;
* one way to train and publish roles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Generic, Sequence, TypeVar

from langgraph.graph.state import CompiledStateGraph
from rich.console import Console

from moot.nodes.serving.model_pool import ModelPool
from moot.report import RunReport
from moot.run_folder import RunMode, RunProgress
from moot.runner import open_run, run_episodes, timed, train_roles
from moot.stores import Annotator, ExperienceLogger
from moot.training import LoraTrainingConfig, TrainingExample

ReportT = TypeVar("ReportT", bound=RunReport)


def episode_id(split: str, label: str, iteration: int, item: str) -> str:
    """The one episode-id format: ``<split>/<setting>/it<iteration>/<problem or game>``.

    Example:
        >>> episode_id("train", "debate", 1, "sum2-7")
        'train/debate/it1/sum2-7'
    """
    return f"{split}/{label}/it{iteration}/{item}"


class RunLoop(Generic[ReportT]):
    """The skeleton of a run; see the module docstring.

    Args:
        config: A loop config with ``run_dir``, ``library``, ``model_dir``, ``seed``,
            ``backend``, ``concurrency`` and ``flush_every_s``.
        pool: Serve the roles from this pool instead of one built from ``config.backend``.
        mode: ``new``, ``resume`` or ``overwrite`` (see :func:`moot.run_folder.claim_run_folder`).
    """

    def __init__(self, config: Any, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new") -> None:
        self.config = config
        self.console = console or Console()
        self.run_dir = Path(config.run_dir)
        opened = open_run(config, self.console, mode, pool)
        self.settings, self.run_id, self.library = opened.settings, opened.run_id, opened.library
        self.base_model_dir, self.pool = opened.base_model_dir, opened.pool
        self.progress = RunProgress(self.run_dir)
        self.report: ReportT = self.new_report(self.settings)

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
        self.progress.finish(key, self.report.snapshot())
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

    def logger(self, annotate: Annotator) -> ExperienceLogger:
        return ExperienceLogger(self.library, annotate=annotate, flush_every_s=self.config.flush_every_s)

    def play(self, graph: CompiledStateGraph, inputs: Sequence[dict[str, Any]], metadata: Sequence[dict[str, Any]],
             annotate: Annotator, label: str) -> list[dict | None]:
        """Run one logged episode per input; a failed episode gives None."""
        return run_episodes(graph, inputs, metadata, self.logger(annotate), self.console, label, self.config.concurrency)

    def finished_episodes(self, iteration: int, split: str) -> set[str]:
        """Episodes of this run that an earlier attempt played to the end (their records are in the library)."""
        return {str(r["episode"]) for r in self.library.find(run=self.run_id, iteration=iteration, split=split)
                if r["error"] is None}

    # -- training ---------------------------------------------------------------------------

    def adapters_dir(self, iteration: int) -> Path:
        return self.run_dir / "adapters" / f"it{iteration}"

    def train(self, sets: dict[str, list[TrainingExample]], roles: Sequence[str], iteration: int,
              lora: LoraTrainingConfig, *, init_adapters: dict[str, Path] | None = None,
              publish: bool = True) -> list[dict[str, Any]]:
        """Train one adapter per role into ``adapters/it<iteration>/<role>`` and (by default) publish it."""
        entries = train_roles(sets, roles, self.pool, self.base_model_dir, self.adapters_dir(iteration), iteration,
                              lora, self.console, self.config.max_examples_per_role, init_adapters, publish)
        self.report.training.extend(entries)
        return entries

    def republish(self, iteration: int) -> None:
        """Serve an iteration's trained adapters again in this process's fresh pool (on resume)."""
        for entry in self.report.training:
            if entry["iteration"] == iteration and entry.get("train_loss") is not None and "version" in entry:
                entry["version"] = self.pool.publish(entry["role"], self.adapters_dir(iteration) / entry["role"])
