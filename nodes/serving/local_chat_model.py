"""LangChain chat model over a :class:`~moot.nodes.serving.local_engine.LocalEngine`."""

from __future__ import annotations

import json
import queue
import uuid
from concurrent.futures import Future
from operator import itemgetter
from typing import Any, Callable, Iterator, Literal, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableMap, RunnablePassthrough
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import ConfigDict, Field

from .adapter_registry import AdapterRegistry
from .constrained_decoding import MAX_STRING_CHARS, Grammar, closed_objects
from .generation import Completion
from .local_engine import LocalEngine, SamplingParams


STRUCTURED_MIN_TOKENS = 256
"""Fewest tokens a structured reply or tool call is given, whatever the model's ``max_tokens``."""


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
    stop: list[str] | None = None
    """Strings that end every reply (a call's own ``stop`` replaces them); decoding stops there."""
    max_string_chars: int = Field(default=MAX_STRING_CHARS, ge=1)
    """Longest free string (one without ``maxLength``, pattern or format) in a structured reply or
    tool call's arguments: each character is decode time, and a small model may never stop one."""

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
        params = super()._get_ls_params(stop=stop or self.stop, **kwargs)
        adapter = self.current_adapter()
        params["ls_provider"] = "moot"
        params["ls_model_name"] = kwargs.get("model") or (f"{self.engine.name}:{adapter}" if adapter else self.engine.name)
        return params

    def _submit(self, messages: list[BaseMessage], on_token: Callable[[int], None] | None = None,
                stop: list[str] | None = None, **kwargs: Any) -> tuple[Future, str | None]:
        params = SamplingParams(
            temperature=kwargs.get("temperature", self.temperature),
            max_new_tokens=kwargs.get("max_tokens", self.max_tokens),
            top_p=kwargs.get("top_p", self.top_p),
            seed=kwargs.get("seed", self.seed),
            grammar=kwargs.get("grammar"),
            stop=tuple(stop or self.stop or ()),
        )
        conversation = [_text_only(message) for message in convert_to_openai_messages(messages)]
        if kwargs.get("tools"):
            conversation = _with_note(conversation, "You answer by calling one of these tools, as JSON "
                                      '{"name": ..., "arguments": {...}}:\n' + json.dumps(kwargs["tools"], ensure_ascii=False))
        elif "response_schema" in kwargs:
            conversation = _with_note(conversation, "Reply with one JSON object" + (
                "." if kwargs["response_schema"] is None else
                " that fits this JSON schema:\n" + json.dumps(kwargs["response_schema"], ensure_ascii=False)))
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
        future, adapter = self._submit(messages, stop=stop, **kwargs)
        completion = future.result()
        text = completion.text
        if kwargs.get("tools"):
            message = AIMessage(content="", tool_calls=_tool_calls(text), **self._metadata(completion, adapter))
        else:
            message = AIMessage(content=text, **self._metadata(completion, adapter))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def with_structured_output(self, schema: dict | type | None = None, *,
                               method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
                               include_raw: bool = False, strict: bool | None = None, **kwargs: Any) -> Runnable:
        """Replies that are valid by construction (constrained decoding), parsed.

        Args:
            schema: A pydantic model (v2 or v1; the reply is an instance of it), a TypedDict,
                a JSON schema or an OpenAI tool dict (the reply is a dict). ``json_mode`` takes none.
            method: ``json_schema``: the reply is the object, its grammar the schema's;
                ``function_calling``: the reply is a call of a tool whose arguments are the
                object (as :meth:`bind_tools`); ``json_mode``: the reply is a JSON object,
                held to the schema when one is given (a grammar costs nothing, and a small
                model asked for keys in words alone adds its own).
            include_raw: Return ``{"raw": message, "parsed": ..., "parsing_error": ...}``
                instead of raising when the reply does not parse.
            strict: Accepted for compatibility: the grammar makes every method strict.

        The schema is shown to the model in its system message, as bound tools are. Its
        objects are closed (no keys beyond their properties) and strings without
        a ``maxLength`` are bounded (see :mod:`~moot.nodes.serving.constrained_decoding`), so
        a free-text field cannot run on to ``max_tokens``; and the reply gets at least
        :data:`STRUCTURED_MIN_TOKENS` tokens (its grammar ends it once the object closes).
        """
        if kwargs:
            raise ValueError(f"LocalChatModel.with_structured_output got unsupported arguments {sorted(kwargs)}")
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw)  # tool calls, by bind_tools
        if method not in ("json_schema", "json_mode"):
            raise ValueError(f"unknown method {method!r}; use json_schema, function_calling or json_mode")
        if schema is None and method == "json_schema":
            raise ValueError("method='json_schema' needs a schema (json_mode takes any JSON object)")
        is_model = isinstance(schema, type) and is_basemodel_subclass(schema)
        if schema is None:
            json_schema: dict[str, Any] = {"type": "object"}
        elif isinstance(schema, dict) and schema.get("type") == "object":
            json_schema = schema  # a JSON schema already (it needs no title, unlike a function's)
        else:
            json_schema = convert_to_json_schema(schema)
        grammar = Grammar.json_schema(closed_objects(json_schema), self.max_string_chars)
        tracing = {"kwargs": {"method": method, "strict": strict}, **({"schema": schema} if schema is not None else {})}
        model = self.bind(grammar=grammar, response_schema=None if schema is None else json_schema,
                          ls_structured_output_format=tracing, max_tokens=self._structured_budget())
        parser: Runnable = PydanticOutputParser(pydantic_object=schema) if is_model else JsonOutputParser()  # type: ignore[arg-type]
        if not include_raw:
            return model | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=model) | parsed.with_fallbacks([unparsed], exception_key="parsing_error")

    def bind_tools(self, tools: Sequence[dict | type | Callable | BaseTool], *, tool_choice: str | None = None,
                   **kwargs: Any) -> Runnable:
        """Bind tools: every reply is then one call of one of them, with arguments valid against its schema.

        The model always calls a tool (a small model cannot be trusted to decide when not
        to); ``tool_choice`` names the one it must call. The tools' names, descriptions and
        parameters are shown to the model in the system message (the grammar alone keeps
        the form, not the sense: without them a 135M model invents arguments). Replies come
        back as ``AIMessage.tool_calls``, ready for LangGraph's ``ToolNode``.
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
        grammar = Grammar.json_schema(calls[0] if len(calls) == 1 else {"anyOf": calls}, self.max_string_chars)
        return self.bind(grammar=grammar, tools=specs, **{"max_tokens": self._structured_budget(), **kwargs})

    def _structured_budget(self) -> int:
        """Tokens a structured reply or tool call may take: at least :data:`STRUCTURED_MIN_TOKENS`,
        since one cut short does not parse (its grammar ends it as soon as it closes)."""
        return max(self.max_tokens, STRUCTURED_MIN_TOKENS)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Token by token, while the engine batches this request with others (each row streams its own tokens).

        With ``stop`` sequences the reply comes in one chunk, cut at the first one; so do a
        tool call (as ``tool_call_chunks``) and a structured reply (a parser then sees the
        whole object, never a prefix that misses a required key).
        """
        if stop or self.stop or kwargs.get("tools") or kwargs.get("grammar"):
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


def _with_note(conversation: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """``conversation`` with ``note`` (the tools, or the reply's schema) at the end of its system
    message (one is added if it has none): a small model's chat template has no place of its own
    for them, and a grammar alone keeps the form, not the sense."""
    if conversation and conversation[0].get("role") == "system":
        return [{**conversation[0], "content": f"{conversation[0]['content']}\n\n{note}"}, *conversation[1:]]
    return [{"role": "system", "content": note}, *conversation]


_MEDIA_BLOCKS = {"image", "image_url", "audio", "input_audio", "video", "file"}


def _text_only(message: dict[str, Any]) -> dict[str, Any]:
    """A message whose content is a list of blocks, as the chat template wants it: one string
    of its text blocks (tool calls travel in ``tool_calls``; reasoning is not replayed).

    Raises:
        ValueError: for an image, audio, video or file block (the model reads text only).
    """
    content = message.get("content")
    if not isinstance(content, list):
        return message
    blocks = [block if isinstance(block, dict) else {"type": "text", "text": block} for block in content]
    media = {str(block.get("type")) for block in blocks} & _MEDIA_BLOCKS
    if media:
        raise ValueError(f"LocalChatModel reads text only; the message holds {', '.join(sorted(media))} blocks")
    return {**message, "content": "".join(block["text"] for block in blocks if block.get("type") == "text")}
