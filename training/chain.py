"""The chain's curation rule (SiriuS): each role learns its step from trajectories that ended right."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from moot.stores import ExperienceRecord

from .examples import CurationConfig, TrainingExample, example_of


def chain_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """SiriuS: every role learns its own step from the trajectories that ended right.

    Augmented (repaired) steps count like any other; the records of repair attempts
    themselves (node ``repair``) never become training data.
    """
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] != "repair" and record["final_correct"] and "error" not in record.metadata and record["role"]:
            sets[str(record["role"])].append(example_of(record))
    return dict(sets)
