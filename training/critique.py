"""The critique protocol's curation rule: right answers, right verdicts, feedback that led to a right answer."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from moot.stores import ExperienceRecord

from .examples import CurationConfig, TrainingExample, example_of
from .preferences import JudgedExample, judged


def critique_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """Actor: right answers; judge: right verdicts; critic: feedback followed by a right answer."""
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] in ("actor", "judge", "critic") and record["correct"] and "error" not in record.metadata:
            sets[str(record["role"])].append(example_of(record))
    return dict(sets)


def critique_judged_calls(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> list[JudgedExample]:
    """Each actor, judge and critic call right or wrong, grouped by episode and node: accepted vs rejected revisions."""
    return [judged(record, bool(record["correct"]), f"{record['episode']}/{record['node']}") for record in records
            if record["node"] in ("actor", "judge", "critic") and record["correct"] is not None
            and "error" not in record.metadata]
