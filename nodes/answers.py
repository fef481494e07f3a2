"""Reading answers out of model text, and voting on them."""

from __future__ import annotations

import re
from collections import Counter
from typing import Callable, Sequence

AnswerParser = Callable[[str], "str | None"]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def parse_number(text: str) -> str | None:
    """The last number in ``text``, normalized (commas dropped, ``12.0`` -> ``12``), or None.

    Examples:
        >>> parse_number("45 + 12 = 57.")
        '57'
        >>> parse_number("It is 1,024.0") , parse_number("no idea")
        ('1024', None)
    """
    matches = _NUMBER.findall(text or "")
    if not matches:
        return None
    value = matches[-1].replace(",", "")
    if "." in value:
        number = float(value)
        return str(int(number)) if number.is_integer() else str(number)
    return str(int(value))


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
