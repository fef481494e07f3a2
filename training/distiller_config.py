"""When the distiller (:mod:`moot.training.distiller`) trains a role, and on what."""

from __future__ import annotations

from dataclasses import dataclass, field

from .lora_training import LoraTrainingConfig


@dataclass
class DistillerConfig:
    """When a role's next adapter is trained, on which examples, with which resources.

    Attributes:
        every: New kept examples of a role that start its next distillation.
        every_minutes: Also distil this often, when a role has ``min_examples`` new ones.
        min_examples: The fewest new examples the timer distils on.
        replay_share: Share of each training set drawn from older kept examples (repeated
            self-distillation without replay is reported to collapse).
        max_new_examples: Cap on the new examples of one distillation (the latest are kept).
        train_threads: CPU threads of the training process (serving keeps the rest).
        train_niceness: The training process's Unix nice level (0-19): when serving and
            training both want a core, serving gets it first, and training takes what is idle.
        yield_to_traffic: Pause the training process while serving has requests in flight
            (see :mod:`moot.training.traffic_yield`), when serving's threads and training's
            together outnumber the cores; local training only.
        min_train_share: With ``yield_to_traffic``, the least share of time training runs
            under steady traffic, so that a distillation still finishes.
        train_on_ray: Send each distillation to the Ray cluster at this address (a training
            node; see :mod:`moot.training.ray_jobs`) instead of a local process.
        ray_cpus: CPUs each distillation asks the Ray cluster for.
        lora: LoRA settings of each distillation.
        seed: Seeds the replay sampling and training.
    """

    every: int = 32
    every_minutes: float | None = None
    min_examples: int = 8
    replay_share: float = 0.5
    max_new_examples: int = 64
    train_threads: int = 1
    train_niceness: int = 10
    yield_to_traffic: bool = True
    min_train_share: float = 0.25
    train_on_ray: str | None = None
    ray_cpus: int = 1
    lora: LoraTrainingConfig = field(default_factory=LoraTrainingConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.train_niceness <= 19:
            raise ValueError(f"train_niceness must be a nice level from 0 to 19, got {self.train_niceness}")
        if not 0.0 <= self.min_train_share <= 1.0:
            raise ValueError(f"min_train_share must be in [0, 1], got {self.min_train_share}")
        if self.every < 1 or self.min_examples < 1:
            raise ValueError(f"every and min_examples must be at least 1, got {self.every} and {self.min_examples}")
        if not 0.0 <= self.replay_share < 1.0:
            raise ValueError(f"replay_share must be in [0, 1), got {self.replay_share}")
        if self.lora.objectives != {"sft"}:
            # its data are kept calls, with replay: SFT's; pairs, judged calls and task prompts come from the loops
            raise ValueError(f"the distiller learns its roles' kept calls by SFT; objective "
                             f"{'/'.join(sorted(self.lora.objectives - {'sft'}))} is for moot improve and moot selfplay")
