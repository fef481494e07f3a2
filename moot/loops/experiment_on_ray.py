"""An experiment's (arm, seed) runs as tasks of a Ray cluster, each with its resource request.

Ray schedules the runs on whichever nodes have the CPUs (and GPUs) a run asks for, and
retries a run whose node or worker died: the retry resumes the run folder where the last
finished phase left it, as ``moot experiment run`` does after a crash. The nodes share the
runs folder by path (one machine, or a shared file system) and the library through the run
folder or a Chroma server (``library = "http://host:8000"`` in the file's settings). Each
run's console output goes to ``seed<N>.log`` beside its run folder.

Ray is an optional extra (``pip install 'moot[ray]'``); without ``--ray`` nothing here runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.console import Console

from moot.training.ray_jobs import connect

from .experiment import Arm, Experiment, pending_runs, run_one, slug, suite_progress


@dataclass(frozen=True)
class RayResources:
    """What each run asks of the cluster.

    Attributes:
        cpus: CPUs per run (its torch uses as many threads).
        gpus: GPUs per run.
        retries: Times a run is started again after its node or worker died (it resumes).
    """

    cpus: int = 2
    gpus: float = 0
    retries: int = 3

    def __post_init__(self) -> None:
        if self.cpus < 1 or self.gpus < 0 or self.retries < 0:
            raise ValueError(f"a run needs at least 1 CPU, and GPUs and retries cannot be negative: {self}")


def _run_on_node(experiment: Experiment, arm: Arm, seed: int, cwd: str) -> float:
    # Paths in the file (the runs folder, a task file, a model) are read as from where the
    # command was started: the nodes share that folder.
    os.chdir(cwd)
    log_file = experiment.run_dir(arm, seed).with_suffix(".log")  # beside the run folder, which a new run claims empty
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a", encoding="utf-8") as log:
        return run_one(experiment, arm, seed, Console(file=log, width=120))


def run_experiment_on_ray(experiment: Experiment, address: str, resources: RayResources = RayResources(),
                          console: Console | None = None) -> dict[str, float]:
    """Run every (arm, seed) not finished yet as a Ray task; returns each finished run's wall time in seconds.

    A run that fails for a reason of its own (a bad setting, a bug) is reported and the
    others go on; the first such error is raised once every run has ended.

    Raises:
        RuntimeError: when Ray is not installed or no cluster answers at ``address``.
    """
    console = console or Console()
    ray = connect(address)
    jobs = pending_runs(experiment, console)
    task = ray.remote(num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=resources.retries,
                      retry_exceptions=False)(_run_on_node)
    waiting = {task.remote(experiment, arm, seed, os.getcwd()): (arm, seed) for arm, seed in jobs}
    wall: dict[str, float] = {}
    failures: list[BaseException] = []
    with suite_progress(console) as progress:
        suite = progress.add_task(f"experiment {experiment.name} on Ray ({len(jobs)} runs)", total=len(jobs))
        while waiting:
            (done,), _ = ray.wait(list(waiting), num_returns=1)
            arm, seed = waiting.pop(done)
            name = f"{slug(arm.name)}/seed{seed}"
            try:
                wall[name] = ray.get(done)
                console.print(f"{arm.name}, seed {seed}: finished in {wall[name]:.0f} s")
            except ray.exceptions.RayError as error:
                cause = error.as_instanceof_cause() if isinstance(error, ray.exceptions.RayTaskError) else error
                failures.append(cause)
                console.print(f"[red]{arm.name}, seed {seed} failed: {str(cause).splitlines()[0] if str(cause) else cause!r}[/]")
            progress.advance(suite)
    if failures:
        raise failures[0]
    return wall
