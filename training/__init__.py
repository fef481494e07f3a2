"""Training reads the experience library and writes adapters; each protocol's curation rule is in the module of its name."""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "adapter_manifest": ["AdapterManifest"],
        "chain": ["chain_training_sets"],
        "critique": ["critique_training_sets"],
        "debate": ["debate_training_sets"],
        "examples": ["CurationConfig", "NegotiationFilter", "TrainingExample", "example_of"],
        "lora_training": ["LoraTrainingConfig", "NotEnoughData", "train_lora_adapter"],
        "preferences": ["JudgedExample", "Objective", "PreferencePair", "objective_sets", "preference_pairs"],
        "negotiation": ["negotiation_training_sets"],
        "negotiation_warm_start": ["WarmStartConfig", "warm_start_examples"],
    },
)
