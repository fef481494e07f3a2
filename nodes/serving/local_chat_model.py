"""LangChain chat model over a :class:`~moot.nodes.serving.local_engine.LocalEngine`."""

from __future__ import annotations

import queue
from concurrent.futures import Future
import json
import uuid
from typing import Any, Callable, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field

from .adapter_registry import AdapterRegistry
from .constrained_decoding import Grammar
from .generation import Completion
from .local_engine import LocalEngine, SamplingParams


class LocalChatModel(BaseChatModel):
    """A ``BaseChatModel`` that runs on a shared local engine, optionally as a role.

    When ``role`` and ``registry`` are set, every call reads the role's current adapter
    from the registry, so a hot-swap takes effect on the next call with no new object.

    Examples:
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

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Tracing parameters: provider ``moot``, model = the base model plus the adapter version that will answer."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        adapter = self.current_adapter()
        params["ls_provider"] = "moot"
        params["ls_model_name"] = f"{self.engine.name}:{adapter}" if adapter else self.engine.name
        return params

    def _submit(self, messages: list[BaseMessage], on_token: Callable[[int], None] | None = None,
                **kwargs: Any) -> tuple[Future, str | None]:
        params = SamplingParams(
            temperature=kwargs.get("temperature", self.temperature),
            max_new_tokens=kwargs.get("max_tokens", self.max_tokens),
            top_p=kwargs.get("top_p", self.top_p),
            seed=kwargs.get("seed", self.seed),
            grammar=kwargs.get("grammar"),
        )
        conversation = convert_to_openai_messages(messages)
        adapter = self.current_adapter()
        try:
            return self.engine.submit(conversation, adapter, params, on_token), adapter
        except KeyError:
            # A rollback retired the version between reading the role's pointer and
            # submitting; the pointer has moved on, so the call goes to its new version.
            if self.current_adapter() == adapter:
                raise
            adapter = self.current_adapter()
            return self.engine.submit(conversation, adapter, params, on_token), adapter

    def _metadata(self, completion: Completion, adapter: str | None) -> dict[str, Any]:
        """The message fields every reply carries: which model and adapter answered, and token usage."""
        return {
            "response_metadata": {"model_name": self.engine.name, "adapter": adapter, "role": self.role},
            "usage_metadata": {
                "input_tokens": completion.prompt_tokens,
                "output_tokens": completion.completion_tokens,
                "total_tokens": completion.prompt_tokens + completion.completion_tokens,
            },
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        future, adapter = self._submit(messages, **kwargs)
        completion = future.result()
        text = completion.text
        for marker in stop or []:
            text = text.split(marker)[0]
        if kwargs.get("tools"):
            message = AIMessage(content="", tool_calls=_tool_calls(text), **self._metadata(completion, adapter))
        else:
            message = AIMessage(content=text, **self._metadata(completion, adapter))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def with_structured_output(self, schema: dict | type, *, method: str = "json_schema", include_raw: bool = False,
                               **kwargs: Any) -> Runnable:
        """Replies that are valid against ``schema`` by construction (constrained decoding), parsed.

        ``schema``: a pydantic model (the reply is an instance of it), or a JSON schema dict
        (the reply is a dict). Only ``method="json_schema"`` exists here: the grammar, not a
        tool-calling convention, keeps the 135M model on the schema.

        A reply cut off by ``max_tokens`` before the JSON closes fails to parse: give the
        model room for the whole object.
        """
        if method != "json_schema":
            raise ValueError(f"LocalChatModel supports method='json_schema' only, got {method!r}")
        if include_raw:
            raise ValueError("include_raw is not supported by LocalChatModel")
        is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        json_schema = schema.model_json_schema() if is_model else schema  # type: ignore[union-attr]
        parser = PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()  # type: ignore[arg-type]
        return self.bind(grammar=Grammar.json_schema(json_schema)) | parser

    def bind_tools(self, tools: Sequence[dict | type | Callable | BaseTool], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable:
        """Bind tools: every reply is then one call of one of them, with arguments valid against its schema.

        The model always calls a tool (a small model cannot be trusted to decide when not
        to); ``tool_choice`` names the one it must call. Replies come back as
        ``AIMessage.tool_calls``, ready for LangGraph's ``ToolNode``.
        """
        specs = [convert_to_openai_tool(tool)["function"] for tool in tools]
        if tool_choice not in (None, "auto", "any", "required"):
            specs = [s for s in specs if s["name"] == tool_choice]
            if not specs:
                raise ValueError(f"tool_choice {tool_choice!r} names no bound tool")
        # A call's arguments are the declared ones only (else a model may add keys without end).
        calls = [{"type": "object", "properties": {"name": {"const": s["name"]}, "arguments": {
                      "additionalProperties": False, **s.get("parameters", {"type": "object"})}},
                  "required": ["name", "arguments"], "additionalProperties": False} for s in specs]
        grammar = Grammar.json_schema(calls[0] if len(calls) == 1 else {"anyOf": calls})
        return self.bind(grammar=grammar, tools=[s["name"] for s in specs], **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Token by token, while the engine batches this request with others (each row streams its own tokens).

        With ``stop`` sequences the reply comes in one chunk, cut at the first one; so does
        a tool call (as ``tool_call_chunks``).
        """
        if stop or kwargs.get("tools"):
            message = self._generate(messages, stop, run_manager, **kwargs).generations[0].message
            calls = [{"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                     for i, c in enumerate(message.tool_calls)]  # type: ignore[attr-defined]
            yield ChatGenerationChunk(message=AIMessageChunk(
                content=message.content, response_metadata=message.response_metadata, tool_call_chunks=calls,
                usage_metadata=message.usage_metadata, chunk_position="last"))  # type: ignore[attr-defined]
            return
        tokens: queue.Queue[int] = queue.Queue()
        future, adapter = self._submit(messages, on_token=tokens.put, **kwargs)
        ids: list[int] = []
        sent = ""
        while not (future.done() and tokens.empty()):
            try:
                ids.append(tokens.get(timeout=0.05))
            except queue.Empty:
                continue
            # Stripped like invoke's reply, so trailing spaces wait for the next word and the
            # chunks add up to exactly what invoke returns.
            text = self.engine.tokenizer.decode(ids, skip_special_tokens=True).strip()
            if text.endswith("\ufffd") or not text.startswith(sent) or text == sent:
                continue  # half of a multi-byte character, or nothing new yet
            delta, sent = text[len(sent):], text
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
            if run_manager is not None:
                run_manager.on_llm_new_token(delta, chunk=chunk)
            yield chunk
        completion = future.result()
        # The last chunk carries what decoding held back, and the usage.
        rest = completion.text[len(sent):] if completion.text.startswith(sent) else ""
        yield ChatGenerationChunk(message=AIMessageChunk(content=rest, chunk_position="last",
                                                         **self._metadata(completion, adapter)))

    def batch(self, inputs: list[Any], config: RunnableConfig | list[RunnableConfig] | None = None, **kwargs: Any):
        """Run all inputs concurrently so the engine serves them as one padded batch."""
        if config is None or (isinstance(config, dict) and "max_concurrency" not in config):
            config = {**(config or {}), "max_concurrency": max(1, len(inputs))}
        return super().batch(inputs, config, **kwargs)


def _tool_calls(text: str) -> list[dict[str, Any]]:
    """The tool call a constrained reply holds (none if it was cut off before it closed)."""
    try:
        call = json.loads(text)
    except json.JSONDecodeError:
        return []
    return [{"name": call["name"], "args": call["arguments"], "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"}]
