"""Training one LoRA adapter per role with trl and peft, on the CPU: by SFT, DPO or KTO.

The objective only changes which trl trainer reads which data (:mod:`.objectives`); loading
the base, the scratch folder, progress, and the adapter's manifest written into place are
the same for all three."""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from moot.nodes.serving.adapter_registry import check_role_name
from moot.nodes.serving.adapter_validation import base_fingerprint
from moot.nodes.serving.embedded_model import model_name
from moot.nodes.serving.transformers_warnings import quiet_checkpointing_deprecation
from moot.nodes.serving.compute_dtype import DtypeChoice, dtype_name, resolve_dtype

from .adapter_manifest import AdapterManifest
from .objectives import build_trainer, check_data
from .preferences import OBJECTIVES, Objective, TrainingData

logger = logging.getLogger(__name__)


@dataclass
class LoraTrainingConfig:
    """LoRA and optimizer settings for one role's adapter.

    The defaults are the ones that doubled the embedded model's accuracy on two-digit sums
    (rank 16 on all linear layers, lr 2e-4, 2 epochs, batch 8).

    ``dtype`` is the compute type: ``bfloat16`` trains under bf16 autocast with the LoRA
    weights and their optimizer state in float32; ``auto`` chooses it only on CPUs where
    bf16 matmuls are measurably faster (see :mod:`moot.nodes.serving.compute_dtype`).

    Attributes:
        rank: LoRA rank.
        alpha: LoRA scaling numerator (the update is scaled by alpha / rank).
        dropout: LoRA dropout.
        target_modules: The layers that get adapters.
        learning_rate: LoRA learning rate.
        epochs: LoRA epochs over a role's training set.
        batch_size: Examples per optimizer step.
        max_length: Longest example, in tokens.
        max_steps: Stop each role's training after this many steps (-1: run all epochs).
        seed: Seeds the LoRA initialisation, the data order and GRPO's sampling (a run's loop mixes
            in the run's seed and the iteration: :meth:`moot.runs.driver.RunDriver.seeded`).
        dtype: Compute type of training (see above).
        objective: What each role learns: its kept replies (``sft``), good-over-bad pairs from
            the calls that answered the same question (``dpo``), its calls marked good or bad
            (``kto``, which also learns where every call of a group went the same way), or
            replies it samples afresh to the prompts it saw, rewarded by the task's answer
            check (``grpo``; for the roles whose every reply answers the task: debate's).
        role_objectives: A different objective for some roles (``{"critic": "dpo"}``).
        beta: DPO/KTO: how far the adapter may move from its reference (the adapter it goes on
            from, else the base): higher stays closer.
        sft_weight: DPO: weight of the likelihood of the chosen reply added to the DPO loss (as
            in iterative RPO, so that the chosen reply does not lose probability too); 0 is plain DPO.
        num_generations: GRPO: replies sampled per prompt, each scored against the others
            (``batch_size`` must be a multiple).
        max_completion_tokens: GRPO: longest sampled reply, in tokens.
        extra: Further trl settings (``SFTConfig``, ``DPOConfig``, ``KTOConfig`` or ``GRPOConfig``,
            by objective; e.g. GRPO's sampling ``temperature``).
    """

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    learning_rate: float = 2e-4
    epochs: float = 2.0
    batch_size: int = 8
    max_length: int = 512
    max_steps: int = -1
    seed: int = 0
    dtype: DtypeChoice = "auto"
    objective: Objective = "sft"
    role_objectives: dict[str, Objective] = field(default_factory=dict)
    beta: float = 0.1
    sft_weight: float = 1.0
    num_generations: int = 4
    max_completion_tokens: int = 32
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rank < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.epochs <= 0:
            raise ValueError(f"invalid LoRA settings: rank={self.rank}, batch_size={self.batch_size}, "
                             f"learning rate={self.learning_rate}, epochs={self.epochs} (each must be positive)")
        for where, objective in [("objective", self.objective), *self.role_objectives.items()]:
            if objective not in OBJECTIVES:
                raise ValueError(f"unknown training objective {objective!r} for {where} "
                                 f"(choose from {', '.join(OBJECTIVES)})")
        if self.beta <= 0 or self.sft_weight < 0:
            raise ValueError(f"beta must be positive and sft_weight at least 0, got {self.beta} and {self.sft_weight}")
        if "grpo" in self.objectives and (self.num_generations < 2 or self.batch_size % self.num_generations
                                          or self.max_completion_tokens < 1):
            raise ValueError(f"GRPO compares at least 2 replies per prompt within a batch: num_generations="
                             f"{self.num_generations} must be at least 2 and divide batch_size={self.batch_size}, "
                             f"and max_completion_tokens={self.max_completion_tokens} must be positive")

    def objective_for(self, role: str) -> Objective:
        """The objective ``role`` trains with."""
        return self.role_objectives.get(role, self.objective)

    @property
    def objectives(self) -> set[Objective]:
        """Every objective some role trains with."""
        return {self.objective, *self.role_objectives.values()}


class NotEnoughData(ValueError):
    """A role has no training examples; its adapter is left as it was."""


def train_lora_adapter(
    base_model_dir: str | Path,
    examples: Sequence[TrainingData],
    output_dir: str | Path,
    *,
    role: str,
    iteration: int = 0,
    config: LoraTrainingConfig = LoraTrainingConfig(),
    on_step: Callable[[int, int, float | None], None] | None = None,
    init_adapter: str | Path | None = None,
) -> AdapterManifest:
    """Fine-tune a LoRA adapter on ``examples`` by ``config``'s objective for ``role``, and save it.

    ``examples`` are :class:`~moot.training.examples.TrainingExample` items for SFT (the loss is on the completion
    only), :class:`~moot.training.preferences.PreferencePair` items for DPO and
    :class:`~moot.training.preferences.JudgedExample` items for KTO.

    The base weights are loaded fresh from ``base_model_dir`` for training, so a model
    that is serving at the same time is never touched.

    Args:
        on_step: Called after every optimizer step with (step, total steps, latest loss),
            e.g. to drive a progress bar.
        init_adapter: An adapter folder to go on training from, instead of a fresh LoRA
            (its rank and target modules are kept; those in ``config`` are not used).

    Returns:
        The manifest written into ``output_dir`` next to the peft adapter files.

    Raises:
        NotEnoughData: when ``examples`` is empty.
        TypeError: when ``examples`` are not what the role's objective trains on.
    """
    check_role_name(role)
    if not examples:
        raise NotEnoughData(f"no training examples for role {role!r}")
    objective = config.objective_for(role)
    check_data(objective, examples)
    from peft import LoraConfig, PeftModel
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback

    disable_progress_bar()

    output_dir = Path(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    compute = resolve_dtype(config.dtype)
    # In bf16 the frozen base is stored in bf16 too (half the memory, no cast per step); peft
    # keeps the LoRA weights, and so the optimizer state, in float32.
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=compute)
    # The trainer wants a folder for checkpoints; moot saves only the adapter, so it is scratch.
    # It sits beside the target, not in /tmp: what a killed training leaves there, the next
    # training of that adapter (a resume) removes.
    scratch = output_dir.with_name(output_dir.name + ".scratch")
    partial = output_dir.with_name(output_dir.name + ".partial")
    for leftover in (scratch, partial):
        shutil.rmtree(leftover, ignore_errors=True)
    scratch.mkdir(parents=True)
    if init_adapter is not None:
        with quiet_checkpointing_deprecation():
            model, lora = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True), None
    else:
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        )
    with quiet_checkpointing_deprecation():
        trainer = build_trainer(objective, model, tokenizer, examples, str(scratch), config,
                                bf16=dtype_name(compute) == "bfloat16", peft_config=lora)
    # With tqdm off the trainer prints every log dict; progress goes through on_step instead.
    trainer.remove_callback(PrinterCallback)
    if on_step is not None:

        class _Report(TrainerCallback):
            loss: float | None = None

            def on_log(self, args, state, control, logs=None, **kwargs):
                self.loss = (logs or {}).get("loss", self.loss)

            def on_step_end(self, args, state, control, **kwargs):
                on_step(state.global_step, state.max_steps, self.loss)

        trainer.add_callback(_Report())
    # Everything is written beside the target and renamed into place once complete, manifest
    # included, so a kill mid-write never leaves a folder that a pool would take for an adapter.
    try:
        with quiet_checkpointing_deprecation():
            result = trainer.train()
            # DPO and KTO keep a frozen copy of the starting adapter as their reference ("ref"):
            # only the trained one is the result.
            trainer.model.save_pretrained(partial, selected_adapters=["default"])
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest = AdapterManifest(
        role=role,
        iteration=iteration,
        base_model=model_name(base_model_dir),
        record_ids=[record_id for item in examples for record_id in item.record_ids],
        train_loss=float(result.training_loss),
        settings={**{k: v for k, v in asdict(config).items() if k not in ("extra", "objective", "role_objectives")},
                  "objective": objective},
        parent=str(init_adapter) if init_adapter is not None else None,
        dtype=dtype_name(compute),
        base_fingerprint=base_fingerprint(base_model_dir),
    )
    manifest.save(partial)
    shutil.rmtree(output_dir, ignore_errors=True)
    partial.rename(output_dir)
    logger.info("trained %s by %s on %d items, loss %.4f", role, objective, len(examples), manifest.train_loss)
    return manifest
