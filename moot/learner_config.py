"""When the live learner (:mod:`moot.learner`) distils, what it trains on, and how it promotes and rolls back."""

from __future__ import annotations

from dataclasses import dataclass, field

from moot.candidate_selection import CandidateConfig
from moot.gate_config import GateConfig
from moot.training.lora_sft import LoraTrainingConfig


@dataclass
class LearnerConfig:
    """When the learner distils, what it trains on, and how it promotes and rolls back.

    Attributes:
        every: New kept examples of a role that start its next distillation.
        every_minutes: Also distil this often, when a role has ``min_examples`` new ones.
        min_examples: The fewest new examples the timer distils on.
        replay_share: Share of each training set drawn from older kept examples (repeated
            self-distillation without replay is reported to collapse).
        max_new_examples: Cap on the new examples of one distillation (the latest are kept).
        min_reward: An episode's calls are kept when its reward is at least this.
        gate_share: Share of traffic episodes held out for the gate when no gate set is given.
        gate: The promotion rule.
        rollback_window: Rewarded episodes of a new version compared with the previous
            version's last as many, before it is kept or rolled back.
        rollback_z: Standard errors of the reward difference that trigger a rollback.
        train_threads: CPU threads of the training process (serving keeps the rest).
        poll_s: How often the background distiller looks for new data.
        lora: LoRA settings of each distillation.
        candidates: Train several candidates per distillation (at different learning rates)
            and gate the best one: found by the candidate search on a task gate's problems, or
            by the best mean likelihood on a traffic gate's held-out traffic.
        seed: Seeds the replay sampling and training.
    """

    every: int = 32
    every_minutes: float | None = None
    min_examples: int = 8
    replay_share: float = 0.5
    max_new_examples: int = 64
    min_reward: float = 1.0
    gate_share: float = 0.2
    gate: GateConfig = field(default_factory=GateConfig)
    rollback_window: int = 24
    rollback_z: float = 2.0
    train_threads: int = 1
    poll_s: float = 5.0
    lora: LoraTrainingConfig = field(default_factory=LoraTrainingConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.every < 1 or self.min_examples < 1:
            raise ValueError(f"every and min_examples must be at least 1, got {self.every} and {self.min_examples}")
        if not 0.0 <= self.replay_share < 1.0 or not 0.0 <= self.gate_share < 1.0:
            raise ValueError(f"replay_share and gate_share must be in [0, 1), got {self.replay_share}, {self.gate_share}")
