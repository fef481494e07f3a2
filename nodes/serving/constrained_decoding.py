"""Constrained decoding: each row of a batch may follow its own grammar (a JSON schema, a regex, Lark).

moot uses llguidance: one small native package with no GPU dependency, which computes a
row's allowed-token mask in tens of microseconds on a CPU (measured on the embedded model's
49,152-token vocabulary), so constraints cost next to nothing beside the model's forward
pass. The engine keeps one matcher per constrained row: before a token is sampled the row's
logits are masked to what its grammar allows next, and the token is fed back to the matcher.
End of sequence is allowed only where the grammar may end, so a reply that finishes within
``max_tokens`` is valid by construction, even from a 135M model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch
    from langchain_core.runnables import Runnable

# Compact JSON, one way to write it: the model spends no tokens on free whitespace.
_JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}

MAX_STRING_CHARS = 200
"""Longest free string a JSON grammar allows where the schema sets no ``maxLength``."""


@dataclass(frozen=True)
class Grammar:
    """A grammar in llguidance's serialized form (hashable, so requests with one batch together).

    Examples:
        >>> Grammar.json_schema({"type": "integer"}).text.startswith('{"grammars"')
        True
    """

    text: str

    @classmethod
    def json_schema(cls, schema: dict[str, Any], max_string_chars: int = MAX_STRING_CHARS) -> "Grammar":
        """Replies that are JSON valid against ``schema``, each free string at most ``max_string_chars``
        characters (see :func:`bounded_strings`)."""
        import llguidance

        bounded = bounded_strings(schema, max_string_chars)
        return cls(llguidance.LLMatcher.grammar_from_json_schema(json.dumps(bounded),
                                                                 defaults=_JSON_OPTIONS))

    @classmethod
    def regex(cls, pattern: str) -> "Grammar":
        """Replies that match ``pattern`` whole."""
        import llguidance

        return cls(llguidance.LLMatcher.grammar_from_regex(pattern))


def _rewrite_schema(schema: Any, rewrite: Callable[[dict[str, Any], dict[str, Any]], None]) -> Any:
    """A copy of ``schema`` in which ``rewrite(node, copy)`` has amended the copy of every subschema."""
    if isinstance(schema, list):
        return [_rewrite_schema(item, rewrite) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _rewrite_schema(value, rewrite) for key, value in schema.items()}
    rewrite(schema, copy)
    return copy


def bounded_strings(schema: Any, limit: int = MAX_STRING_CHARS) -> Any:
    """``schema`` with a ``maxLength`` on every string that has no length, pattern, format or
    fixed values: unbounded, a small model can stay inside a string until ``max_tokens`` and
    never close the object.

    Examples:
        >>> bounded_strings({"type": "object", "properties": {"name": {"type": "string"},
        ...                  "code": {"type": "string", "pattern": "[A-Z]{3}"}}}, limit=40)["properties"]
        {'name': {'type': 'string', 'maxLength': 40}, 'code': {'type': 'string', 'pattern': '[A-Z]{3}'}}
    """
    def bound(node: dict[str, Any], copy: dict[str, Any]) -> None:
        kinds = node.get("type")
        if (kinds == "string" or (isinstance(kinds, list) and "string" in kinds)) and not (
                {"maxLength", "pattern", "format", "enum", "const"} & set(node)):
            copy["maxLength"] = limit

    return _rewrite_schema(schema, bound)


def closed_objects(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties
    and says nothing of others: a structured reply holds the keys asked for, no more (what
    strict structured output means elsewhere).

    Examples:
        >>> closed_objects({"type": "object", "properties": {"setup": {"type": "string"}}})
        {'type': 'object', 'properties': {'setup': {'type': 'string'}}, 'additionalProperties': False}
    """
    def close(node: dict[str, Any], copy: dict[str, Any]) -> None:
        if "properties" in node and "additionalProperties" not in node:
            copy["additionalProperties"] = False

    return _rewrite_schema(schema, close)


class RowConstraint:
    """One row's grammar state: masks its logits, and follows the tokens it takes.

    Raises:
        ValueError: if the grammar is invalid (at construction, before any decoding).
    """

    def __init__(self, grammar: Grammar, tokenizer: Any) -> None:
        import llguidance
        import llguidance.torch as ll_torch

        self._ll_torch = ll_torch
        self.matcher = llguidance.LLMatcher(tokenizer, grammar.text)
        if self.matcher.is_error():
            raise ValueError(f"invalid grammar: {self.matcher.get_error()}")
        self.mask = ll_torch.allocate_token_bitmask(1, tokenizer.vocab_size)

    def constrain(self, logits: torch.Tensor) -> None:
        """Set the logits of every token the grammar forbids next to -inf (in place; one row)."""
        self._ll_torch.fill_next_token_bitmask(self.matcher, self.mask, 0)
        row = logits.unsqueeze(0)
        self._ll_torch.apply_token_bitmask_inplace(row, self.mask.to(logits.device))

    def advance(self, token: int) -> None:
        self.matcher.consume_token(token)

    @property
    def finished(self) -> bool:
        """The grammar is complete and allows nothing more."""
        return self.matcher.is_stopped()


def ll_tokenizer(hf_tokenizer: Any) -> Any:
    """llguidance's view of a Hugging Face tokenizer (built once per engine)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(hf_tokenizer)


def regex_constrained(model: Runnable, pattern: str) -> Runnable:
    """``model`` (from any pool) whose every reply matches ``pattern`` whole.

    The local engine decodes under the grammar; a vLLM server is asked for its own
    structured outputs, so the same node code runs on either backend.
    """
    from langchain_openai import ChatOpenAI

    if isinstance(model, ChatOpenAI):
        return model.bind(extra_body={"structured_outputs": {"regex": pattern}})
    return model.bind(grammar=Grammar.regex(pattern))
