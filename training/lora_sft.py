"""Training one LoRA adapter per role with trl's ``SFTTrainer`` and peft, on the CPU."""

from __future__ import annotations

import logging
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from moot.nodes.serving.adapter_registry import check_role_name
from moot.nodes.serving.adapter_validation import base_fingerprint
from moot.nodes.serving.embedded_model import model_name
from moot.nodes.serving.compute_dtype import DtypeChoice, dtype_name, resolve_dtype

from .adapter_manifest import AdapterManifest
from .examples import TrainingExample

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
        seed: Seeds the LoRA initialisation and the data order.
        dtype: Compute type of training (see above).
        extra: Further trl ``SFTConfig`` settings.
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
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rank < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.epochs <= 0:
            raise ValueError(f"invalid LoRA settings: rank={self.rank}, batch_size={self.batch_size}, "
                             f"learning rate={self.learning_rate}, epochs={self.epochs} (each must be positive)")


@contextmanager
def _quiet_checkpointing_deprecation() -> Iterator[None]:
    # transformers deprecates the gradient_checkpointing names that trl still uses.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        yield


def _sft_config(output_dir: str, config: LoraTrainingConfig, compute: Any) -> Any:
    from trl import SFTConfig

    return SFTConfig(
        # trl turns bf16 autocast on by default, whatever the CPU; moot decides from the machine.
        bf16=dtype_name(compute) == "bfloat16",
        output_dir=output_dir,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        max_length=config.max_length,
        seed=config.seed,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        # trl turns checkpointing on to save GPU memory; a small model on a CPU only pays its extra compute.
        gradient_checkpointing=False,
        **config.extra,
    )


class NotEnoughData(ValueError):
    """A role has no training examples; its adapter is left as it was."""


def train_lora_adapter(
    base_model_dir: str | Path,
    examples: Sequence[TrainingExample],
    output_dir: str | Path,
    *,
    role: str,
    iteration: int = 0,
    config: LoraTrainingConfig = LoraTrainingConfig(),
    on_step: Callable[[int, int, float | None], None] | None = None,
    init_adapter: str | Path | None = None,
) -> AdapterManifest:
    """Fine-tune a LoRA adapter on ``examples`` (loss on the completion only) and save it.

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
    """
    check_role_name(role)
    if not examples:
        raise NotEnoughData(f"no training examples for role {role!r}")
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, TrainerCallback
    from trl import SFTTrainer

    disable_progress_bar()

    output_dir = Path(output_dir)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir)
    compute = resolve_dtype(config.dtype)
    # In bf16 the frozen base is stored in bf16 too (half the memory, no cast per step); peft
    # keeps the LoRA weights, and so the optimizer state, in float32.
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=compute)
    dataset = Dataset.from_list(
        [{"prompt": e.prompt, "completion": [{"role": "assistant", "content": e.completion}]} for e in examples]
    )
    # The trainer wants a folder for checkpoints; moot saves only the adapter, so it is scratch.
    # It sits beside the target, not in /tmp: what a killed training leaves there, the next
    # training of that adapter (a resume) removes.
    scratch = output_dir.with_name(output_dir.name + ".scratch")
    partial = output_dir.with_name(output_dir.name + ".partial")
    for leftover in (scratch, partial):
        shutil.rmtree(leftover, ignore_errors=True)
    scratch.mkdir(parents=True)
    with _quiet_checkpointing_deprecation():
        args = _sft_config(str(scratch), config, compute)
    if init_adapter is not None:
        with _quiet_checkpointing_deprecation():
            model, lora = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True), None
    else:
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=config.target_modules,
            task_type="CAUSAL_LM",
        )
    with _quiet_checkpointing_deprecation():
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=lora)
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
        with _quiet_checkpointing_deprecation():
            result = trainer.train()
            trainer.model.save_pretrained(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest = AdapterManifest(
        role=role,
        iteration=iteration,
        base_model=model_name(base_model_dir),
        record_ids=[e.record_id for e in examples],
        train_loss=float(result.training_loss),
        settings={k: v for k, v in asdict(config).items() if k != "extra"},
        parent=str(init_adapter) if init_adapter is not None else None,
        dtype=dtype_name(compute),
        base_fingerprint=base_fingerprint(base_model_dir),
    )
    manifest.save(partial)
    shutil.rmtree(output_dir, ignore_errors=True)
    partial.rename(output_dir)
    logger.info("trained %s on %d examples, loss %.4f", role, len(examples), manifest.train_loss)
    return manifest
