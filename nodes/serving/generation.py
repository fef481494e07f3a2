"""What one generation request asks for and what it gets back."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable

from .constrained_decoding import Grammar

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed batch


@dataclass(frozen=True)
class SamplingParams:
    """How one generation is sampled.

    Attributes:
        temperature: 0 means greedy decoding.
        max_new_tokens: Upper bound on generated tokens.
        top_p: Nucleus sampling mass (ignored when greedy).
        seed: Seeds this row's own random generator (continuous scheduler), so a seeded
            row samples the same text whatever it is batched with. The static scheduler
            seeds torch's global generator before the padded batch instead.
        grammar: Constrain the reply to this grammar (a JSON schema, a regex; continuous
            scheduler), see :mod:`~moot.nodes.serving.constrained_decoding`.
        stop: Strings that end the reply: it is cut before the first one found. The
            continuous scheduler stops decoding the row there; the static one cuts afterwards.
    """

    temperature: float = 0.0
    max_new_tokens: int = 48
    top_p: float = 1.0
    seed: int | None = None
    grammar: Grammar | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    """Text generated for one request, with its token counts and the adapter that ran."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    adapter: str | None


@dataclass
class GenerationRequest:
    """One queued chat request (tokenized once, by the caller) and the future its completion resolves.

    ``on_token`` is called with each token id as it is generated (streaming); the
    continuous scheduler calls it per step; the static one does not (a streamed reply then
    comes in one piece).
    """

    prompt_ids: list[int]
    adapter: str | None
    params: SamplingParams
    future: Future = field(default_factory=Future)
    on_token: Callable[[int], None] | None = None


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` before the first of the ``stop`` strings, and whether one was found.

    Examples:
        >>> cut_at_stop("42. Next question:", ("\\n", "."))
        ('42', True)
        >>> cut_at_stop("42", ("Q:",))
        ('42', False)
    """
    found = [i for i in (text.find(marker) for marker in stop if marker) if i >= 0]
    return (text[:min(found)], True) if found else (text, False)


def reply_text(decoded: str, stop: tuple[str, ...]) -> str:
    """The text a completion holds: the decoded tokens, stripped, cut before the first stop string.

    Examples:
        >>> reply_text(" 42. Next question:", (".",))
        '42'
    """
    return cut_at_stop(decoded.strip(), stop)[0].strip()
