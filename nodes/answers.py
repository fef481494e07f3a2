"""Reading answers out of model text, and voting on them.

A task's *answer type* is a parser that turns text into a canonical answer: a task's
reference answers and the agents' replies both go through it, so two answers agree exactly
when their canonical forms are equal (votes, rewards and the gate all compare those).
"""

from __future__ import annotations

import importlib
import re
import string
from collections import Counter
from typing import Callable, Sequence

AnswerParser = Callable[[str], "str | None"]

MAX_ANSWER_CHARS = 2000
"""Longest text a parser reads: a reference answer above it is refused, a reply is cut to its end."""

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def parse_number(text: str) -> str | None:
    """The last number in ``text``, normalized (commas dropped, ``12.0`` -> ``12``), or None.

    Examples:
        >>> parse_number("45 + 12 = 57.")
        '57'
        >>> parse_number("It is 1,024.0") , parse_number("no idea")
        ('1024', None)
    """
    matches = _NUMBER.findall(_tail(text))
    if not matches:
        return None
    value = matches[-1].replace(",", "")
    if "." in value:
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    return str(int(value))


def _tail(text: str | None) -> str:
    # Answers come last; a bounded tail also keeps int() and sympy away from megabyte inputs.
    return (text or "")[-MAX_ANSWER_CHARS:]


_CHOICE_STATED = re.compile(r"answer\s*(?:is|:)?\s*\(?([A-J])\b")
_CHOICE_FIRST = re.compile(r"^\W*\(?([A-J])(?:[).:]|\s*$)")
_CHOICE_ANY = re.compile(r"(?<![A-Za-z])\(?([A-J])\)?(?![A-Za-z])")


def parse_choice(text: str) -> str | None:
    """A multiple-choice letter (A-J): the one after "answer is", else the one the reply opens
    with, else the last capital letter standing alone.

    Examples:
        >>> parse_choice("The answer is (C) because ..."), parse_choice("B. Paris"), parse_choice("I pick D")
        ('C', 'B', 'D')
        >>> parse_choice("no letter here") is None
        True
    """
    text = _tail(text).strip()
    stated = _CHOICE_STATED.findall(text)
    if stated:
        return stated[-1]
    first = _CHOICE_FIRST.match(text)
    if first:
        return first.group(1)
    # "I" is far more often the pronoun than option I.
    letters = [letter for letter in _CHOICE_ANY.findall(text) if letter != "I"]
    return letters[-1] if letters else None


def label_parser(labels: Sequence[str]) -> AnswerParser:
    """A parser for a closed set of labels: the last label named in the reply, as the set spells it.

    Examples:
        >>> sentiment = label_parser(["positive", "negative", "neutral"])
        >>> sentiment("Mostly Negative, I'd say."), sentiment("no idea") is None
        ('negative', True)
    """
    spelled = {label.lower(): label for label in labels}
    if not spelled:
        raise ValueError("a label set needs at least one label")
    pattern = re.compile(r"\b(" + "|".join(re.escape(label) for label in spelled) + r")\b", re.IGNORECASE)

    def parse_label(text: str) -> str | None:
        found = pattern.findall(_tail(text))
        return spelled[found[-1].lower()] if found else None

    return parse_label


parse_yes_no = label_parser(["yes", "no"])
parse_yes_no.__doc__ = "``yes`` or ``no``, whichever the reply says last."
parse_yes_no.__qualname__ = parse_yes_no.__name__ = "parse_yes_no"

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_STATED = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", re.IGNORECASE)


def normalize_text(text: str) -> str | None:
    """Normalized exact text (SQuAD's normalization) of the reply's last line, without a leading
    "answer:": lower case, no punctuation, no articles, single spaces.

    Examples:
        >>> normalize_text("Let me think.\\nThe answer is: The Eiffel Tower!")
        'eiffel tower'
        >>> normalize_text("  ") is None
        True
    """
    lines = [line.strip() for line in _tail(text).splitlines() if line.strip()]
    if not lines:
        return None
    answer = _STATED.sub("", lines[-1]).lower()
    answer = "".join(c for c in answer if c not in string.punctuation)
    answer = " ".join(_ARTICLES.sub(" ", answer).split())
    return answer or None


# A formula on its own: an operator or a LaTeX command, and no two words of prose in a row.
_BARE_FORMULA = re.compile(r"(?!.*\b[A-Za-z]{2,}\s+[A-Za-z]{2,}\b)(?=.*[\\^_{}=+*/-]).+")


def parse_math(text: str) -> str | None:
    """A mathematical answer in a canonical form, so that equivalent answers compare equal:
    math-verify reads it (LaTeX, ``\\boxed{}``, plain expressions), sympy evaluates, expands and
    turns decimals into exact fractions.

    Examples:
        >>> parse_math(r"so it is $\\frac{2}{8}$") == parse_math("0.25") == "1/4"
        True
        >>> parse_math(r"$\\sqrt{8}$") == parse_math(r"$2\\sqrt{2}$")
        True
        >>> parse_math("no idea") is None
        True
    """
    import math_verify.parser
    import sympy

    # The input is bounded instead: math-verify's timeout is a signal, and replies are parsed
    # in worker threads, where signals cannot be set.
    math_verify.parser.TIMEOUT_WARNING_SHOWN = True
    text = _tail(text)
    parsed = math_verify.parse(text, parsing_timeout=None)
    if not parsed and _BARE_FORMULA.fullmatch(text.strip()):
        # Bare LaTeX (a dataset's "x^2+2x+1") is read as LaTeX only between dollars.
        parsed = math_verify.parse(f"${text.strip()}$", parsing_timeout=None)
    if not parsed:
        return None
    value = parsed[0]
    if isinstance(value, sympy.Basic):
        value = value.doit()
        if isinstance(value, sympy.Expr):
            value = sympy.nsimplify(sympy.expand(value), rational=True)
    return str(value)


ANSWER_TYPES: dict[str, tuple[AnswerParser, str]] = {
    "number": (parse_number, "the last number, normalized (1,024.0 -> 1024)"),
    "choice": (parse_choice, "a multiple-choice letter A-J"),
    "yesno": (parse_yes_no, "yes or no"),
    "text": (normalize_text, "exact text after SQuAD's normalization"),
    "math": (parse_math, "mathematical equivalence (math-verify and sympy)"),
}
"""The named answer types, with a line of help each; ``labels:a,b,c`` and ``module:function`` add more."""


def answer_parser(spec: str) -> AnswerParser:
    """The parser an answer type names: one of :data:`ANSWER_TYPES`, ``labels:a,b,c`` for a closed
    label set, or ``module:function`` for a function of your own that maps text to a canonical
    answer (or None).

    Raises:
        ValueError: an unknown name, an empty label set, or a function that cannot be imported.

    Examples:
        >>> answer_parser("labels:red,green")("Green, clearly")
        'green'
        >>> answer_parser("moot.nodes.answers:parse_number")("x = 3")
        '3'
        >>> answer_parser("colour")
        Traceback (most recent call last):
        ...
        ValueError: unknown answer type 'colour'; choose number, choice, yesno, text, math, labels:a,b,c or module:function
    """
    if spec in ANSWER_TYPES:
        return ANSWER_TYPES[spec][0]
    if spec.startswith("labels:"):
        return label_parser([label.strip() for label in spec.removeprefix("labels:").split(",") if label.strip()])
    if ":" in spec:
        module, _, name = spec.partition(":")
        try:
            function = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"answer type {spec!r}: cannot import {name!r} from {module!r} ({error})") from error
        if not callable(function):
            raise ValueError(f"answer type {spec!r}: {name!r} is not a function")
        return function
    raise ValueError(f"unknown answer type {spec!r}; choose {', '.join(ANSWER_TYPES)}, labels:a,b,c or module:function")


def safe_parse(parser: AnswerParser, text: str) -> str | None:
    """Apply ``parser``; a parser that raises counts as an unparsable answer."""
    try:
        return parser(text)
    except Exception:  # noqa: BLE001 - a bad answer must never kill an episode
        return None


def majority_vote(answers: Sequence[str | None]) -> tuple[str | None, dict[str, int]]:
    """Most common parsed answer; unparsable (None) answers do not vote.

    Ties go to the answer given first, so the result does not depend on dict order.

    Examples:
        >>> majority_vote(["3", None, "5", "5"])
        ('5', {'3': 1, '5': 2})
        >>> majority_vote([None, None])
        (None, {})
    """
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None, {}
    best = max(counts.values())
    winner = next(a for a in answers if a is not None and counts[a] == best)
    return winner, dict(counts)
