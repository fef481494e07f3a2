"""Training reads the experience library and writes adapters."""

from .adapter_manifest import AdapterManifest
from .examples import (
    CurationConfig,
    TrainingExample,
    chain_training_sets,
    critique_training_sets,
    debate_training_sets,
    negotiation_training_sets,
)
from .lora_sft import LoraTrainingConfig, NotEnoughData, train_lora_adapter

__all__ = [
    "AdapterManifest",
    "CurationConfig",
    "LoraTrainingConfig",
    "NotEnoughData",
    "TrainingExample",
    "chain_training_sets",
    "critique_training_sets",
    "debate_training_sets",
    "negotiation_training_sets",
    "train_lora_adapter",
]
