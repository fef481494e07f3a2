"""Nodes call models: chat-model backends, the role pool, and the building blocks graphs wire."""

from .adapter_registry import AdapterRegistry
from .local_chat_model import LocalChatModel
from .local_engine import Completion, LocalEngine, SamplingParams
from .model_pool import LocalModelPool, ModelPool, SharedModelPool

__all__ = [
    "AdapterRegistry",
    "Completion",
    "LocalChatModel",
    "LocalEngine",
    "LocalModelPool",
    "ModelPool",
    "SamplingParams",
    "SharedModelPool",
]
