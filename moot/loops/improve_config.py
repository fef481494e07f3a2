"""Settings of an improve run (:mod:`moot.loops.improve`), saved as its run folder's ``config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field

from moot.loops.task_run_config import TaskRunConfig
from moot.nodes.few_shot_config import FewShotConfig
from moot.promotion.gate_config import GateConfig
from moot.protocols.augmentation_config import AugmentationConfig
from moot.selection.candidates import CandidateConfig
from moot.selection.prompts import PromptOptimizationConfig
from moot.training.lora_training import LoraTrainingConfig


@dataclass
class ImproveConfig(TaskRunConfig):
    """Settings of one improve run (saved as the run folder's ``config.json``), beside those of :class:`TaskRunConfig`.

    Attributes:
        iterations: Play-train-swap rounds.
        augmentation: Repair failed trajectories before training (SiriuS; chain and critique):
            how many, and the wording of the repair prompts.
        lora: LoRA settings of each role's training.
        gate_problems: Validation problems on which an iteration's adapters must not do
            measurably worse than the versions they would replace, or they are not served
            (0: serve every trained adapter).
        gate: The promotion rule.
        candidates: Train several candidate adapter sets per iteration (at different learning
            rates) and keep the one a search on validation episodes finds best; it then
            faces the gate like a single candidate.
        continue_training: Each iteration trains a role on from the adapter it serves (the
            previous iteration's, when that one was served), not from a fresh LoRA.
        prompts: Search each role's system prompt before each iteration's play: an optimizer
            model proposes prompts from the role's episodes, and the gate keeps those that do no
            worse on validation (with train_adapters, prompts and LoRA alternate).
        few_shot: Show every role its most similar rewarded past calls from this run's
            training episodes (retrieval memory; ``k = 0``: off). Held-out episodes are never shown.
        train_adapters: Train and swap adapters each iteration; off, an iteration only plays
            (filling the memory) and is scored: "retrieval only".
    """

    iterations: int = 1
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    lora: LoraTrainingConfig = field(default_factory=LoraTrainingConfig)
    gate_problems: int = 30
    gate: GateConfig = field(default_factory=GateConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    continue_training: bool = True
    prompts: PromptOptimizationConfig = field(default_factory=PromptOptimizationConfig)
    few_shot: FewShotConfig = field(default_factory=lambda: FewShotConfig(k=0))
    train_adapters: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.protocol == "graph" and self.prompts.rounds > 0:
            raise ValueError("prompt search needs a protocol's roles before it plays; a graph of your own names "
                             "them as it runs: drop --prompt-rounds")
        self.check_gate_size(self.gate_problems, self.gate.min_items)
