"""Serving: the embedded model, the local engine and chat model, the role pools, the vLLM launcher.

This layer runs models and swaps adapters; it knows nothing of protocols.
"""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "adapter_registry": ["AdapterRegistry", "check_role_name"],
        "adapter_validation": ["AdapterRejected", "validate_adapter"],
        "compute_dtype": ["DtypeChoice", "resolve_dtype"],
        "embedded_model": ["embedded_model_dir"],
        "generation": ["Completion", "SamplingParams"],
        "local_chat_model": ["LocalChatModel"],
        "local_engine": ["LocalEngine"],
        "model_pool": ["LocalModelPool", "ModelPool", "PoolWrapper", "SharedModelPool"],
        "vllm_pool": ["ServerError", "VLLMModelPool"],
        "vllm_server": ["VLLMServerConfig", "start_vllm_server"],
    },
)
