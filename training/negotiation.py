"""Negotiation's curation rule: a player's valid turns from the games its outcome passed a filter."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Iterable

from .examples import NegotiationFilter, TrainingExample, example_of
from .preferences import JudgedExample, judged, same_prompt

if TYPE_CHECKING:
    from moot.stores import ExperienceRecord


def negotiation_training_sets(
    records: Iterable[ExperienceRecord], keep: NegotiationFilter = "won", utility_threshold: float = 0.0
) -> dict[str, list[TrainingExample]]:
    """A player's valid turns from the games its outcome passed ``keep``.

    ``won``: it ended with more utility than its opponent; ``deal``: the game closed;
    ``utility``: its utility reached ``utility_threshold``. Invalid turns never train.

    Examples:
        >>> from moot.stores import ExperienceRecord
        >>> turn = ExperienceRecord("t", "ACTION: ACCEPT", [], {"node": "player", "role": "buyer",
        ...                         "valid": True, "won": True, "deal": True, "utility": 5.0})
        >>> [len(v) for v in negotiation_training_sets([turn]).values()]
        [1]
    """
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] == "player" and record["valid"] and "error" not in record.metadata \
                and _passed(record, keep, utility_threshold):
            sets[str(record["role"])].append(example_of(record))
    return dict(sets)


def _passed(record: ExperienceRecord, keep: NegotiationFilter, utility_threshold: float) -> bool:
    return {
        "won": bool(record["won"]),
        "deal": bool(record["deal"]),
        "utility": record["utility"] is not None and float(record["utility"]) >= utility_threshold,
    }[keep]


def negotiation_judged_calls(records: Iterable[ExperienceRecord], keep: NegotiationFilter = "won",
                             utility_threshold: float = 0.0) -> list[JudgedExample]:
    """Each player turn good when its game passed ``keep`` and the move was valid, grouped by the prompt it saw.

    Games of one scenario open on the same prompt, so a winning and a losing opening pair up.
    """
    return [judged(record, bool(record["valid"]) and _passed(record, keep, utility_threshold), same_prompt(record))
            for record in records if record["node"] == "player" and "error" not in record.metadata]
