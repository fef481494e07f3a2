"""Serving: the embedded model, the local engine and chat model, the role pools, the vLLM launcher.

This layer runs models and swaps adapters; it knows nothing of protocols.
"""

from .adapter_registry import AdapterRegistry, check_role_name
from .adapter_validation import AdapterRejected, validate_adapter
from .compute_dtype import DtypeChoice, resolve_dtype
from .embedded_model import embedded_model_dir
from .generation import Completion, SamplingParams
from .local_chat_model import LocalChatModel
from .local_engine import LocalEngine
from .model_pool import LocalModelPool, ModelPool, SharedModelPool
from .vllm_pool import ServerError, VLLMModelPool
from .vllm_server import VLLMServerConfig, start_vllm_server

__all__ = [
    "AdapterRegistry",
    "AdapterRejected",
    "Completion",
    "DtypeChoice",
    "LocalChatModel",
    "LocalEngine",
    "LocalModelPool",
    "ModelPool",
    "SamplingParams",
    "ServerError",
    "SharedModelPool",
    "VLLMModelPool",
    "VLLMServerConfig",
    "check_role_name",
    "embedded_model_dir",
    "resolve_dtype",
    "start_vllm_server",
    "validate_adapter",
]
