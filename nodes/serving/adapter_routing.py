"""How a batch reaches its adapters: through peft's per-row routing only when its rows differ.

peft serves a batch whose rows use different adapters (``adapter_names``) by hooking every
LoRA layer for the call and splitting each layer's input by adapter. On SmolLM2 that costs
more than the model itself: one stream decodes 13.3 tokens/s with no adapter loaded, 8.4 once
an adapter is loaded (a base row), 5.7 through the adapter; with this routing 13.0 and 9.4
(measured side by side on this project's 2-core machine, ``bench/adapter_routing.py``).
Most batches use one adapter (one role, one user, the gate playing one version) or none.
:class:`AdapterRouting` sets the layers once to that adapter, or off, and leaves them until a
batch needs something else; only a mixed batch goes through peft's routing. Each row's
arithmetic is the same either way.

Examples:
    >>> from peft import LoraConfig, get_peft_model
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> base = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=16,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1))
    >>> model = get_peft_model(base, LoraConfig(r=2, target_modules="all-linear"), adapter_name="solver")
    >>> routing = AdapterRouting()
    >>> routing.options(model, ["solver", None])   # mixed: peft routes each row
    {'adapter_names': ['solver', '__base__']}
    >>> routing.options(model, [None, None])       # all base: the layers are switched off instead
    {}
    >>> model.base_model.model.model.layers[0].mlp.up_proj.disable_adapters
    True
"""

from __future__ import annotations

from typing import Any, Sequence

from .generation import BASE_ADAPTER

# Markers no adapter name can equal (an adapter may well be called "unknown").
_MIXED, _UNKNOWN = object(), object()


class AdapterRouting:
    """The LoRA layers' state of one ``PeftModel``, changed only when a batch needs another.

    Call :meth:`options` under the engine's lock before each forward pass and :meth:`forget`
    whenever adapters are loaded or dropped.
    """

    def __init__(self) -> None:
        self._layers: object = _UNKNOWN  # an adapter's name, None (layers off), or a marker

    def forget(self) -> None:
        """The layers may have changed: set them again before the next batch."""
        self._layers = _UNKNOWN

    def options(self, model: Any, adapters: Sequence[str | None]) -> dict[str, Any]:
        """Ready ``model``'s layers for a batch whose row ``i`` uses ``adapters[i]`` (None: the base).

        Returns:
            The keyword arguments the forward pass (or ``generate``) needs: ``adapter_names`` for a mixed
            batch, nothing otherwise.
        """
        wanted = set(adapters)
        if len(wanted) == 1:
            (adapter,) = wanted
            if self._layers != adapter:
                if adapter is None:
                    model.base_model.disable_adapter_layers()
                else:
                    model.base_model.enable_adapter_layers()
                    model.set_adapter(adapter)
                self._layers = adapter
            return {}
        if self._layers != _MIXED:
            model.base_model.enable_adapter_layers()
            self._layers = _MIXED
        return {"adapter_names": [adapter or BASE_ADAPTER for adapter in adapters]}
