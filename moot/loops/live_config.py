"""Settings of a live run (:mod:`moot.loops.live`): traffic served while the learner distils behind it."""

from __future__ import annotations

from dataclasses import dataclass, field

from moot.live.learner_config import LearnerConfig
from moot.loops.task_run_config import TaskRunConfig
from moot.nodes.debate import DebateConfig
from moot.training.lora_training import LoraTrainingConfig


@dataclass
class LiveConfig(TaskRunConfig):
    """Settings of a live run, beside those of :class:`~moot.loops.task_run_config.TaskRunConfig` (task, protocol, splits).

    Attributes:
        minutes: How long traffic runs.
        traffic_concurrency: Traffic episodes in flight at once.
        gate_problems: Validation problems the gate plays (a single greedy agent per version).
        finish_distillation: When the traffic ends, let a distillation in progress finish
            (its result counts); by default it is abandoned, so the run is its minutes.
        learner: The live learner's triggers, replay, training, gate and rollback settings.
    """

    debate: DebateConfig = field(default_factory=lambda: DebateConfig(roles="shared"))
    minutes: float = 20.0
    traffic_concurrency: int = 8
    gate_problems: int = 50
    finish_distillation: bool = False
    learner: LearnerConfig = field(default_factory=lambda: LearnerConfig(
        every=32, poll_s=5.0, lora=LoraTrainingConfig(epochs=2.0)))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_gate_size(self.gate_problems, self.learner.gate.min_items)
