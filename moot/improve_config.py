"""Settings of an improve run (:mod:`moot.improve`), saved as its run folder's ``config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from moot.candidate_selection import CandidateConfig
from moot.gate_config import GateConfig
from moot.nodes.chain import ChainConfig
from moot.nodes.critique import CritiqueConfig
from moot.nodes.debate import DebateConfig
from moot.nodes.few_shot_config import FewShotConfig
from moot.prompt_optimization import PromptOptimizationConfig
from moot.protocols.augmentation_config import AugmentationConfig
from moot.run_config import RunConfig
from moot.tasks import SplitSizes, Task, arithmetic_task, jsonl_task
from moot.training.examples import CurationConfig
from moot.training.lora_sft import LoraTrainingConfig


TaskProtocol = Literal["debate", "chain", "critique"]
EvalSplit = Literal["validation", "test"]
TASK_PROTOCOLS: tuple[str, ...] = get_args(TaskProtocol)
"""The protocols that answer a task's questions (their configs are fields of :class:`ImproveConfig`)."""


@dataclass
class ImproveConfig(RunConfig):
    """Settings of one improve run (saved as the run folder's ``config.json``), beside those of :class:`RunConfig`.

    Attributes:
        protocol: Which protocol to play: ``debate``, ``chain`` or ``critique``.
        task: ``arithmetic`` or a path to a JSONL file of ``question`` / ``answer``.
        level: Arithmetic difficulty (see :func:`moot.tasks.arithmetic_task`).
        sizes: Train / validation / test split sizes.
        eval_split: Split the report scores (``test`` is held out; tune on ``validation``).
        iterations: Play-train-swap rounds.
        debate, chain, critique: Settings of each protocol (only the played one is used).
        augment: Repair failed trajectories before training (SiriuS; chain and critique).
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
            training episodes (retrieval memory; ``None``: off). Held-out episodes are never shown.
        train_adapters: Train and swap adapters each iteration; off, an iteration only plays
            (filling the memory) and is scored: "retrieval only".
    """

    protocol: TaskProtocol = "debate"
    task: str = "arithmetic"
    level: str = "sum2"
    sizes: SplitSizes = field(default_factory=SplitSizes)
    eval_split: EvalSplit = "test"
    iterations: int = 1
    debate: DebateConfig = field(default_factory=DebateConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    critique: CritiqueConfig = field(default_factory=CritiqueConfig)
    augment: bool = True
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    lora: LoraTrainingConfig = field(default_factory=LoraTrainingConfig)
    gate_problems: int = 30
    gate: GateConfig = field(default_factory=GateConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    continue_training: bool = True
    prompts: PromptOptimizationConfig = field(default_factory=PromptOptimizationConfig)
    few_shot: FewShotConfig | None = None
    train_adapters: bool = True

    def load_task(self) -> Task:
        if self.task == "arithmetic":
            return arithmetic_task(self.level, self.sizes, seed=self.seed)
        return jsonl_task(self.task, self.sizes, seed=self.seed)

    @property
    def protocol_config(self) -> Any:
        """The settings of the protocol being played."""
        return {"debate": self.debate, "chain": self.chain, "critique": self.critique}[self.protocol]
