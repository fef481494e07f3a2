"""Settings of the live learner (:mod:`moot.live.learner`): the distiller's, plus how it gates, promotes and rolls back."""

from __future__ import annotations

from dataclasses import dataclass, field

from moot.promotion.gate_config import GateConfig
from moot.selection.candidates import CandidateConfig
from moot.training.distiller_config import DistillerConfig


@dataclass
class LearnerConfig(DistillerConfig):
    """The distiller's settings (:class:`~moot.training.distiller_config.DistillerConfig`), and the learner's own.

    Attributes:
        min_reward: An episode's calls are kept when its reward is at least this.
        gate_share: Share of traffic episodes held out for the gate when no gate set is given.
        gate: The promotion rule.
        rollback_window: Rewarded episodes of a new version compared with the previous
            version's last as many, before it is kept or rolled back.
        rollback_z: Standard errors of the reward difference that trigger a rollback.
        poll_s: How often the background distiller looks for new data.
        finish_on_exit: Leaving a ``with Learner`` block normally lets a distillation in
            progress finish and be gated, so its training is not lost; off, it is abandoned
            at once (an exception leaving the block always abandons it).
        candidates: Train several candidates per distillation (at different learning rates)
            and gate the best one: found by the candidate search on a task gate's problems, or
            by the best mean likelihood on a traffic gate's held-out traffic.
    """

    min_reward: float = 1.0
    gate_share: float = 0.2
    gate: GateConfig = field(default_factory=GateConfig)
    rollback_window: int = 24
    rollback_z: float = 2.0
    poll_s: float = 5.0
    finish_on_exit: bool = True
    candidates: CandidateConfig = field(default_factory=CandidateConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.gate_share < 1.0:
            raise ValueError(f"gate_share must be in [0, 1), got {self.gate_share}")
