"""Training jobs on a Ray cluster: a distillation runs on a training node, the adapter comes back.

Ray is an optional extra (``pip install 'moot[ray]'``). A job is a Ray task with its resource
request (CPUs, GPUs). The node that trains needs moot and the base model folder at the same
path (the same install, or a shared file system); the adapter it writes is sent back as its
files and written beside the target here, then renamed into place, so the run folder does not
have to be shared.

Examples:
    >>> RayTrainingWorker("127.0.0.1:6379", cpus=2).cpus
    2
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

from .adapter_manifest import AdapterManifest
from .jobs import OnStep, TrainingCancelled
from .lora_training import LoraTrainingConfig
from .preferences import TrainingData

RAY_MISSING = "Ray is an optional extra of moot: pip install 'moot[ray]'"


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` (once per process) and return the ``ray`` module.

    Raises:
        RuntimeError: when Ray is not installed, or no cluster answers at ``address``.
    """
    try:
        import ray
    except ImportError:
        raise RuntimeError(RAY_MISSING) from None
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise RuntimeError(f"cannot join the Ray cluster at {address}: {error}") from None
    return ray


def _train_remotely(base_model_dir: str, examples: list[TrainingData],
                    kwargs: dict[str, Any]) -> tuple[AdapterManifest, dict[str, bytes]]:
    """Runs on the training node: train into a scratch folder, return the manifest and the adapter's files."""
    from .lora_training import train_lora_adapter

    with tempfile.TemporaryDirectory(prefix="moot-ray-job-") as scratch:
        folder = Path(scratch) / "adapter"
        manifest = train_lora_adapter(base_model_dir, examples, folder, **kwargs)
        return manifest, {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


class RayTrainingWorker:
    """Sends each training job to a Ray cluster; the same ``train`` as :class:`~moot.training.jobs.TrainingWorker`.

    Args:
        address: The cluster's address (``host:port`` of its head, or ``auto``).
        cpus: CPUs each job asks for (its torch uses as many threads).
        gpus: GPUs each job asks for.
    """

    def __init__(self, address: str, cpus: int = 1, gpus: float = 0) -> None:
        self.address, self.cpus, self.gpus = address, cpus, gpus

    def train(self, base_model_dir: str | Path, examples: Sequence[TrainingData], output_dir: str | Path, *,
              role: str, iteration: int = 0, config: LoraTrainingConfig = LoraTrainingConfig(),
              init_adapter: str | Path | None = None, on_step: OnStep | None = None,
              timeout_s: float = 3600.0, cancel: threading.Event | None = None) -> AdapterManifest:
        """Train on the cluster and write the adapter into ``output_dir``.

        ``on_step`` is called once, when the job is done (a remote job reports no steps).

        Raises:
            TrainingCancelled: if ``cancel`` was set (the remote job is stopped).
            TimeoutError: if the job ran past ``timeout_s`` (it is stopped).
            Exception: whatever the training raised on its node.
        """
        ray = connect(self.address)
        job = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0)(_train_remotely).remote(
            str(base_model_dir), list(examples),
            {"role": role, "iteration": iteration, "config": config,
             "init_adapter": str(init_adapter) if init_adapter else None})
        waited = 0.0
        while not ray.wait([job], timeout=1.0)[0]:
            waited += 1.0
            if cancel is not None and cancel.is_set():
                ray.cancel(job, force=True)
                raise TrainingCancelled(f"training {role} was cancelled")
            if waited > timeout_s:
                ray.cancel(job, force=True)
                raise TimeoutError(f"training {role} ran past {timeout_s} s")
        try:
            manifest, files = ray.get(job)
        except ray.exceptions.RayTaskError as error:
            raise error.as_instanceof_cause() from None
        _write_into_place(Path(output_dir), files)
        if on_step is not None:
            on_step(1, 1, manifest.train_loss)
        return manifest

    def close(self) -> None:
        """Nothing to stop: the cluster outlives this process."""


def _write_into_place(output_dir: Path, files: dict[str, bytes]) -> None:
    """Write an adapter's files beside ``output_dir`` and rename them into place, as a local training does."""
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name, data in files.items():
        path = partial / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.rmtree(output_dir, ignore_errors=True)
    partial.rename(output_dir)
