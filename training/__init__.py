"""Training reads the experience library and writes adapters; each protocol's curation rule is in the module of its name."""

from .adapter_manifest import AdapterManifest
from .chain import chain_training_sets
from .critique import critique_training_sets
from .debate import debate_training_sets
from .examples import CurationConfig, TrainingExample, example_of
from .lora_sft import LoraTrainingConfig, NotEnoughData, train_lora_adapter
from .negotiation import NegotiationFilter, negotiation_training_sets
from .negotiation_warm_start import WarmStartConfig, warm_start_examples

__all__ = [
    "AdapterManifest",
    "CurationConfig",
    "LoraTrainingConfig",
    "NegotiationFilter",
    "NotEnoughData",
    "TrainingExample",
    "chain_training_sets",
    "critique_training_sets",
    "debate_training_sets",
    "example_of",
    "negotiation_training_sets",
    "train_lora_adapter",
    "WarmStartConfig",
    "warm_start_examples",
]
