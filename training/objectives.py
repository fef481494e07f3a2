"""Which trl trainer each objective uses, and the dataset it reads (conversational format).

* ``sft``: ``SFTTrainer`` on prompt and completion; the loss is on the completion only.
* ``dpo``: ``DPOTrainer`` on prompt, chosen and rejected, with the chosen reply's likelihood
  added at ``sft_weight`` (trl's ``sft`` loss beside ``sigmoid``).
* ``kto``: ``KTOTrainer`` on prompt, completion and a good/bad label, the two kinds weighted
  to balance (:func:`kto_weights`).
* ``grpo``: ``GRPOTrainer`` on prompts with their reference answers: it samples its own
  replies and rewards them by the task's answer check (:mod:`.task_rewards`).

For DPO and KTO the reference is the adapter training goes on from (trl copies it into a
frozen ``ref`` adapter), else the base model: each iteration moves away from the last one.
GRPO runs without one (trl's default ``beta=0``: no KL term, as in DAPO and Dr. GRPO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from .examples import TrainingExample
from .preferences import JudgedExample, Objective, PreferencePair, TrainingData
from .task_rewards import TaskPrompt, answer_reward

if TYPE_CHECKING:
    from .lora_training import LoraTrainingConfig

_ITEM_TYPE: dict[Objective, type] = {"sft": TrainingExample, "dpo": PreferencePair, "kto": JudgedExample,
                                      "grpo": TaskPrompt}


def _reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def check_data(objective: Objective, data: Sequence[TrainingData]) -> None:
    """Raise TypeError unless every item is what ``objective`` trains on."""
    wanted = _ITEM_TYPE[objective]
    wrong = next((item for item in data if not isinstance(item, wanted)), None)
    if wrong is not None:
        raise TypeError(f"{objective} trains on {wanted.__name__} items, got a {type(wrong).__name__}")


def _rows(objective: Objective, data: Sequence[TrainingData]) -> list[dict[str, Any]]:
    if objective == "dpo":
        return [{"prompt": p.prompt, "chosen": _reply(p.chosen), "rejected": _reply(p.rejected)} for p in data]  # type: ignore[union-attr]
    if objective == "kto":
        return [{"prompt": e.prompt, "completion": _reply(e.completion), "label": e.good} for e in data]  # type: ignore[union-attr]
    if objective == "grpo":
        return [{"prompt": p.prompt, "target": p.target, "answer": p.answer} for p in data]  # type: ignore[union-attr]
    return [{"prompt": e.prompt, "completion": _reply(e.completion)} for e in data]  # type: ignore[union-attr]


def kto_weights(data: Sequence[JudgedExample], extra: dict[str, Any]) -> dict[str, float]:
    """KTO's loss weights for ``data``: good and bad calls weigh the same in total (Eq. 8 of the KTO
    paper, the lower end of the range trl recommends), unless ``extra`` sets a weight itself.

    Unweighted, the calls of a weak model are mostly bad, and their loss pushes every reply away:
    on ``sum2`` (about 15 % right) two seeds fell from 0.14 and 0.11 to 0.06 and 0.00 in one
    iteration (``results/kto-unweighted-sum2/``).

    Examples:
        >>> calls = [JudgedExample(f"r{i}", "solver", [], "4", i == 0, "e") for i in range(4)]
        >>> kto_weights(calls, {})
        {'desirable_weight': 3.0}
        >>> kto_weights(calls, {"undesirable_weight": 0.5})
        {}
    """
    good = sum(call.good for call in data)
    if {"desirable_weight", "undesirable_weight"} & extra.keys() or good in (0, len(data)):
        return {}
    return {"desirable_weight": (len(data) - good) / good}


def build_trainer(objective: Objective, model: Any, tokenizer: Any, data: Sequence[TrainingData], scratch: str,
                  config: LoraTrainingConfig, bf16: bool, peft_config: Any) -> Any:
    """The trl trainer for ``objective`` over ``data`` (checked by :func:`check_data`), writing only to ``scratch``."""
    from datasets import Dataset
    from peft import PeftModel

    from .labelled_positions import score_labelled_positions_only

    common = dict(
        # trl turns bf16 autocast on by default, whatever the CPU; moot decides from the machine.
        bf16=bf16,
        output_dir=scratch,
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
    )
    dataset = Dataset.from_list(_rows(objective, data))
    rewards: dict[str, Any] = {}
    if objective == "dpo":
        from trl import DPOConfig, DPOTrainer

        losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, config.sft_weight]} if config.sft_weight else {}
        args = DPOConfig(**common, beta=config.beta, **losses, **config.extra)
        trainer_class = DPOTrainer
    elif objective == "kto":
        from trl import KTOConfig, KTOTrainer

        weights = kto_weights(data, config.extra)  # type: ignore[arg-type]
        args, trainer_class = KTOConfig(**common, beta=config.beta, **weights, **config.extra), KTOTrainer
    elif objective == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        del common["max_length"]  # GRPO bounds the sampled replies instead
        # Dropout off: the replies are then sampled from the policy moot serves (which has none),
        # and scored by it; trl leaves it on for GRPO, where its other trainers turn it off.
        args = GRPOConfig(**common, num_generations=config.num_generations,
                          max_completion_length=config.max_completion_tokens,
                          **{"disable_dropout": True, **config.extra})
        trainer_class, rewards = GRPOTrainer, {"reward_funcs": answer_reward}
    else:
        from trl import SFTConfig, SFTTrainer

        args, trainer_class = SFTConfig(**common, **config.extra), SFTTrainer
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=peft_config, **rewards)
    # the LM that trl gave its fused head: under PEFT, the base model
    score_labelled_positions_only(trainer.model.get_base_model() if isinstance(trainer.model, PeftModel) else trainer.model)
    return trainer
