"""Nodes call models: the protocols' node builders and configs, over the serving layer.

``moot.nodes.serving`` runs the models (engine, chat models, pools); the modules beside it
hold each protocol's nodes under the protocol's name (``debate``, ``chain``, ``critique``,
``negotiation``), as ``moot.graphs`` and ``moot.training`` do. ``few_shot_memory`` puts a
role's successful past calls from the experience library into its prompts.
"""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "chain": ["ChainConfig", "ChainStep"],
        "critique": ["CritiqueConfig"],
        "debate": ["DebateConfig", "DebatePrompts"],
        "few_shot_config": ["FewShotConfig"],
        "few_shot_memory": ["FewShotMemory"],
        "negotiation": ["NegotiationConfig"],
        "negotiation_rules": ["GAMES", "game_spec"],
        "serving": ["AdapterRegistry", "Completion", "LocalChatModel", "LocalEngine", "LocalModelPool", "ModelPool", "PoolWrapper", "SamplingParams", "SharedModelPool", "VLLMModelPool"],
    },
)
