"""Training jobs in a worker process of their own, so serving keeps answering while an adapter trains.

A process of its own (not a thread) keeps the trainer's Python work off the serving
process's interpreter lock, and its own ``torch`` thread count keeps its matrix work to the
cores it was given. The worker is started as a module (``python -m moot.training.jobs``),
never by re-running the caller's script, and it stays up between jobs, so a distillation
does not pay for importing torch, transformers and trl again. It dies with its parent: it
exits when its pipe closes, and on Linux the kernel kills it when the parent dies.

A process has one worker per thread budget (:func:`shared_worker`); the jobs of several
distillers queue for it, since two trainings at once would only split the same cores.

Examples:
    >>> worker = TrainingWorker(threads=1)
    >>> worker.running
    False
    >>> worker.close()       # nothing started, nothing to stop
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Sequence

from .adapter_manifest import AdapterManifest
from .examples import TrainingExample
from .lora_training import LoraTrainingConfig

OnStep = Callable[[int, int, "float | None"], None]


class TrainingCancelled(RuntimeError):
    """The training was stopped on request before it finished."""


class TrainingWorker:
    """A long-lived training process: :meth:`train` sends it one job at a time.

    Args:
        threads: CPU threads the worker's torch uses (serving keeps the rest).
        niceness: The worker's Unix nice level: serving in the parent gets a busy core first.
    """

    def __init__(self, threads: int = 1, niceness: int = 0) -> None:
        self.threads, self.niceness = threads, niceness
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._lock = threading.Lock()  # one job at a time

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs."""
        return self._process.pid if self.running else None  # type: ignore[union-attr]

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = {**os.environ, "MOOT_TRAINING_FDS": f"{to_child_r},{from_child_w}"}
        self._process = subprocess.Popen([sys.executable, "-m", "moot.training.jobs", str(self.threads),
                                          str(self.niceness)],
                                         pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._connection = _Duplex(from_child_r, to_child_w)

    def train(self, base_model_dir: str | Path, examples: Sequence[TrainingExample], output_dir: str | Path, *,
              role: str, iteration: int = 0, config: LoraTrainingConfig = LoraTrainingConfig(),
              init_adapter: str | Path | None = None, on_step: OnStep | None = None,
              timeout_s: float = 3600.0, cancel: threading.Event | None = None) -> AdapterManifest:
        """:func:`~moot.training.lora_training.train_lora_adapter` in the worker (started on first use).

        Setting ``cancel`` stops the training within a second: the worker is killed, nothing is
        written, and the next job starts a fresh worker.

        Raises:
            TrainingCancelled: if ``cancel`` was set.
            Exception: whatever the training raised in the worker (``NotEnoughData``, a bad setting...).
            RuntimeError: if the worker died without an answer (killed, out of memory).
            TimeoutError: if it ran past ``timeout_s`` (the worker is then stopped).
        """
        with self._lock:
            if not self.running:
                self._start()
            connection = self._connection
            assert connection is not None
            connection.send(((str(base_model_dir), list(examples), str(output_dir)),
                             {"role": role, "iteration": iteration, "config": config,
                              "init_adapter": str(init_adapter) if init_adapter else None}))
            deadline = time.monotonic() + timeout_s
            try:
                while True:
                    # checked before every message too: a fast training reports a step every poll
                    if cancel is not None and cancel.is_set():
                        raise TrainingCancelled(f"training {role} was cancelled")
                    if not connection.poll(1.0):
                        if not self.running:
                            raise RuntimeError(f"training {role} stopped with exit code "
                                               f"{self._process.returncode} and no result")  # type: ignore[union-attr]
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"training {role} ran past {timeout_s} s")
                        continue
                    kind, payload = connection.recv()
                    if kind == "step":
                        if on_step is not None:
                            on_step(*payload)
                    elif kind == "error":
                        raise payload
                    else:
                        return payload
            except (TrainingCancelled, TimeoutError, RuntimeError, EOFError, OSError):
                self._kill()  # a job cut short leaves the worker mid-training: start afresh next time
                raise

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._connection is not None:
            self._connection.close()
        self._process = self._connection = None

    def close(self) -> None:
        """Stop the worker (it finishes nothing; call between jobs)."""
        if self._connection is not None:
            self._connection.close()  # the worker sees the pipe close and exits
        if self._process is not None:
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def __enter__(self) -> "TrainingWorker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_SHARED: dict[tuple[int, int], TrainingWorker] = {}
_SHARED_LOCK = threading.Lock()


def shared_worker(threads: int = 1, niceness: int = 0) -> TrainingWorker:
    """This process's training worker with ``threads`` CPU threads at ``niceness`` (started on its first job)."""
    with _SHARED_LOCK:
        return _SHARED.setdefault((threads, niceness), TrainingWorker(threads, niceness))


class _Duplex:
    """One connection made of two pipes (read from the worker, write to it)."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read, self._write = Connection(read_fd, writable=False), Connection(write_fd, readable=False)

    def send(self, message: Any) -> None:
        self._write.send_bytes(pickle.dumps(message))

    def recv(self) -> Any:
        return pickle.loads(self._read.recv_bytes())

    def poll(self, timeout: float) -> bool:
        return self._read.poll(timeout)

    def close(self) -> None:
        for end in (self._read, self._write):
            if not end.closed:
                end.close()


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _serve(threads: int) -> None:
    import torch

    from .lora_training import train_lora_adapter

    read_fd, write_fd = (int(fd) for fd in os.environ["MOOT_TRAINING_FDS"].split(","))
    connection = _Duplex(read_fd, write_fd)
    torch.set_num_threads(threads)
    while True:
        try:
            args, kwargs = connection.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe, or is gone
        try:
            manifest = train_lora_adapter(*args, **kwargs, on_step=lambda *step: connection.send(("step", step)))
            connection.send(("done", manifest))
        except BaseException as error:  # noqa: BLE001 - the parent re-raises it
            try:
                connection.send(("error", error))
            except Exception:  # noqa: BLE001 - an exception that does not pickle still reaches the parent
                connection.send(("error", RuntimeError(f"{type(error).__name__}: {error}")))


if __name__ == "__main__":
    _die_with_parent()
    os.nice(int(sys.argv[2]))
    _serve(int(sys.argv[1]))
