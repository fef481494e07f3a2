"""LangChain chat model over a :class:`~moot.nodes.serving.local_engine.LocalEngine`."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field

from .adapter_registry import AdapterRegistry
from .local_engine import LocalEngine, SamplingParams


class LocalChatModel(BaseChatModel):
    """A ``BaseChatModel`` that runs on a shared local engine, optionally as a role.

    When ``role`` and ``registry`` are set, every call reads the role's current adapter
    from the registry, so a hot-swap takes effect on the next call with no new object.

    Example:
        >>> from moot.nodes import LocalChatModel, LocalEngine
        >>> model = LocalChatModel(engine=LocalEngine.from_pretrained(), max_tokens=4)
        >>> isinstance(model.invoke("Say hi").content, str)
        True
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: LocalEngine = Field(exclude=True)
    role: str | None = None
    registry: AdapterRegistry | None = Field(default=None, exclude=True)
    adapter: str | None = None
    temperature: float = 0.0
    max_tokens: int = 48
    top_p: float = 1.0
    seed: int | None = None

    @property
    def _llm_type(self) -> str:
        return "moot-local"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.engine.name, "role": self.role, "temperature": self.temperature}

    def current_adapter(self) -> str | None:
        """The adapter the next call will use (the role's pointer wins over ``adapter``)."""
        if self.registry is not None and self.role is not None:
            return self.registry.current(self.role)
        return self.adapter

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        params = SamplingParams(
            temperature=kwargs.get("temperature", self.temperature),
            max_new_tokens=kwargs.get("max_tokens", self.max_tokens),
            top_p=kwargs.get("top_p", self.top_p),
            seed=kwargs.get("seed", self.seed),
        )
        conversation = convert_to_openai_messages(messages)
        adapter = self.current_adapter()
        try:
            future = self.engine.submit(conversation, adapter, params)
        except KeyError:
            # A rollback retired the version between reading the role's pointer and
            # submitting; the pointer has moved on, so the call goes to its new version.
            if self.current_adapter() == adapter:
                raise
            adapter = self.current_adapter()
            future = self.engine.submit(conversation, adapter, params)
        completion = future.result()
        text = completion.text
        for marker in stop or []:
            text = text.split(marker)[0]
        message = AIMessage(
            content=text,
            response_metadata={"model_name": self.engine.name, "adapter": adapter, "role": self.role},
            usage_metadata={
                "input_tokens": completion.prompt_tokens,
                "output_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, **kwargs: Any):
        """Run all inputs concurrently so the engine serves them as one padded batch."""
        if config is None or (isinstance(config, dict) and "max_concurrency" not in config):
            config = {**(config or {}), "max_concurrency": max(1, len(inputs))}
        return super().batch(inputs, config, **kwargs)
