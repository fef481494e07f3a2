"""The distiller: when a role is due, what it trains on, and the training job that makes its next adapter.

It turns records into candidate adapters and nothing more; which version serves is decided
by :mod:`moot.promotion`. Three parts:

* **triggers**: a role is due once it has ``every`` new kept examples, or when
  ``every_minutes`` passed and it has ``min_examples`` new ones;
* **cursors**: per role, the time of the newest record its last distillation used, so a
  record is "new" once (cursors are saved by the caller, so a restart keeps them);
* **replay**: each training set mixes the new examples with a share of older ones;
* **training jobs**: each candidate is trained from the role's current adapter in the
  process's training worker (:mod:`moot.training.jobs`), with its own thread budget.

Examples:
    >>> from moot.training.examples import TrainingExample
    >>> ex = lambda i: TrainingExample(f"r{i}", "solver", [{"role": "user", "content": f"q{i}"}], f"a{i}")
    >>> distiller = Distiller(DistillerConfig(every=2, replay_share=0.5), "/tmp/adapters")
    >>> due = distiller.due({"solver": [ex(1), ex(2), ex(3)]}, {"r1": 1.0, "r2": 2.0, "r3": 3.0}, {"solver": 1.0}, last_distill=0.0)
    >>> [(d.role, len(d.new), len(d.old), d.cursor) for d in due]
    [('solver', 2, 1, 3.0)]
    >>> new, replay = distiller.training_set(due[0].new, due[0].old, salt=0)
    >>> len(new), len(replay)
    (2, 1)
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Mapping, Sequence

from .distiller_config import DistillerConfig
from .examples import TrainingExample
from .jobs import OnStep, TrainingWorker, shared_worker
from .traffic_yield import TrafficYield
from .ray_jobs import RayTrainingWorker


@dataclass(frozen=True)
class Due:
    """A role due for distillation: its new examples, its older ones, and the cursor after it."""

    role: str
    new: list[TrainingExample]
    old: list[TrainingExample]
    cursor: float


class Distiller:
    """Decides when each role is due and trains its candidates from its current adapter.

    Args:
        config: Triggers, replay and training settings.
        adapters_dir: Candidates go to ``adapters_dir/<role>/d<number>``.
        base_model_dir: The base model the adapters are trained on.
        cancel: Setting it stops a training in progress (:class:`~moot.training.jobs.TrainingCancelled`).
        busy: Whether serving has requests in flight; a local training pauses while it has
            (``yield_to_traffic``).
    """

    def __init__(self, config: DistillerConfig, adapters_dir: str | Path, base_model_dir: str | Path | None = None,
                 cancel: threading.Event | None = None, busy: Callable[[], bool] | None = None) -> None:
        self.config = config
        self.busy = busy
        self.adapters_dir = Path(adapters_dir)
        self.base_model_dir = Path(base_model_dir) if base_model_dir else None
        self.cancel = cancel
        self.worker = (RayTrainingWorker(config.train_on_ray, config.ray_cpus) if config.train_on_ray
                       else shared_worker(config.train_threads, config.train_niceness))

    def due(self, sets: Mapping[str, Sequence[TrainingExample]], times: Mapping[str, float],
            cursors: Mapping[str, float], last_distill: float, now: float | None = None) -> list[Due]:
        """The roles whose kept examples (``sets``) trigger a distillation, in role order.

        Args:
            sets: Each role's kept examples.
            times: Each record id's time (an example is new when its record is newer than the cursor).
            cursors: Each role's cursor (absent: everything is new).
            last_distill: When the last distillation started (for ``every_minutes``).
            now: The time (default: now).
        """
        timer_due = (self.config.every_minutes is not None
                     and (time.time() if now is None else now) - last_distill >= 60 * self.config.every_minutes)
        due = []
        for role, examples in sorted(sets.items()):
            cursor = cursors.get(role, 0.0)
            new = [e for e in examples if times.get(e.record_id, 0.0) > cursor]
            if len(new) >= self.config.every or (timer_due and len(new) >= self.config.min_examples):
                old = [e for e in examples if times.get(e.record_id, 0.0) <= cursor]
                due.append(Due(role, new, old, max(times.get(e.record_id, 0.0) for e in new)))
        return due

    def training_set(self, new: Sequence[TrainingExample], old: Sequence[TrainingExample],
                     salt: int) -> tuple[list[TrainingExample], list[TrainingExample]]:
        """The latest ``max_new_examples`` of ``new``, and the replayed share of ``old`` (seeded by ``salt``)."""
        new = list(new)[-self.config.max_new_examples:]
        share = self.config.replay_share
        wanted = round(len(new) * share / (1.0 - share)) if share else 0
        replay = random.Random(self.config.seed + salt).sample(list(old), min(wanted, len(old)))
        return new, replay

    def train(self, role: str, examples: Sequence[TrainingExample], number: int, *,
              parent_dir: str | Path | None = None, learning_rates: Sequence[float] | None = None,
              on_step: OnStep | None = None) -> list[Path]:
        """Train the role's ``number``-th distillation: one candidate per learning rate; return their folders.

        Each candidate goes on from ``parent_dir`` (the adapter the role serves; ``None``: a fresh LoRA).
        """
        from moot.nodes.serving.embedded_model import embedded_model_dir

        rates = list(learning_rates or [self.config.lora.learning_rate])
        output = self.adapters_dir / role / f"d{number}"
        outputs = [output] if len(rates) == 1 else [output / f"candidate-{i}" for i in range(len(rates))]
        for folder, rate in zip(outputs, rates):
            with self._yielding():
                self.worker.train(self.base_model_dir or embedded_model_dir(), examples, folder, role=role,
                                  iteration=number, config=replace(self.config.lora, learning_rate=rate),
                                  init_adapter=parent_dir, on_step=on_step, cancel=self.cancel)
        return outputs

    def _yielding(self) -> ContextManager[Any]:
        """Pause a local training while serving is busy (a Ray node trains elsewhere: nothing to yield)."""
        if self.busy is None or not self.config.yield_to_traffic or not isinstance(self.worker, TrainingWorker):
            return nullcontext()
        worker = self.worker
        return TrafficYield(lambda: worker.pid, self.busy, self.config.min_train_share)
