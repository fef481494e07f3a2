"""Nodes call models: the protocols' node builders and configs, over the serving layer.

``moot.nodes.serving`` runs the models (engine, chat models, pools); the modules beside it
hold each protocol's nodes under the protocol's name (``debate``, ``chain``, ``critique``,
``negotiation``), as ``moot.graphs`` and ``moot.training`` do. ``few_shot_memory`` puts a
role's successful past calls from the experience library into its prompts.
"""

from .chain import ChainConfig, ChainStep
from .critique import CritiqueConfig
from .debate import DebateConfig, DebatePrompts
from .few_shot_memory import FewShotConfig, FewShotMemory
from .negotiation import NegotiationConfig
from .negotiation_rules import GAMES, game_spec
from .serving import (
    AdapterRegistry,
    Completion,
    LocalChatModel,
    LocalEngine,
    LocalModelPool,
    ModelPool,
    SamplingParams,
    SharedModelPool,
    VLLMModelPool,
)

__all__ = [
    "GAMES",
    "AdapterRegistry",
    "ChainConfig",
    "ChainStep",
    "Completion",
    "CritiqueConfig",
    "DebateConfig",
    "DebatePrompts",
    "FewShotConfig",
    "FewShotMemory",
    "LocalChatModel",
    "LocalEngine",
    "LocalModelPool",
    "ModelPool",
    "NegotiationConfig",
    "SamplingParams",
    "SharedModelPool",
    "VLLMModelPool",
    "game_spec",
]
