"""The debate's curation rule (Multiagent Finetuning): per-role training sets from logged turns.

For every (episode, agent) of a debate, in round order:

* a first-round answer that is right (matches the ground truth, or the consensus when the
  task has none) becomes a training example for the role that wrote it (the generator);
* a later-round answer that is right becomes an example for its role (the critic): always
  when the agent was wrong before (wrong -> right: it learned from its peers), and a
  sampled fraction of the right -> right revisions, so critics learn to correct and to hold.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Iterable

from moot.stores import ExperienceRecord

from .examples import CurationConfig, Target, TrainingExample, example_of
from .preferences import JudgedExample, judged


def _is_right(record: ExperienceRecord, target: Target) -> bool:
    flag = record["correct"] if target == "ground_truth" else record["consensus"]
    return bool(flag)


def debate_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """Per-role training examples from logged debate turns.

    Examples:
        >>> from moot.stores import ExperienceRecord
        >>> def turn(i, rnd, correct):
        ...     return ExperienceRecord(f"r{i}", "57", [{"role": "user", "content": "q"}],
        ...         {"episode": "e", "agent": 0, "round": rnd, "role": f"r{rnd}", "node": "agent", "correct": correct})
        >>> sets = debate_training_sets([turn(0, 0, False), turn(1, 1, True)])
        >>> {role: len(examples) for role, examples in sets.items()}
        {'r1': 1}
    """
    rng = random.Random(config.seed)
    trajectories: dict[tuple[str, int], list[ExperienceRecord]] = defaultdict(list)
    for record in records:
        if record["node"] == "agent" and record["agent"] is not None and "error" not in record.metadata:
            trajectories[(str(record["episode"]), int(record["agent"]))].append(record)
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for key in sorted(trajectories):
        turns = sorted(trajectories[key], key=lambda r: int(r["round"]))
        first_right = _is_right(turns[0], config.target)
        for turn in turns:
            if not _is_right(turn, config.target):
                continue
            if int(turn["round"]) > 0 and first_right and rng.random() >= config.right_to_right_fraction:
                continue
            sets[str(turn["role"])].append(example_of(turn))
    return dict(sets)


def debate_judged_calls(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> list[JudgedExample]:
    """Every debate turn, right or wrong, grouped by episode and round: the agents who answered one question together.

    Examples:
        >>> from moot.stores import ExperienceRecord
        >>> def turn(i, text, correct):
        ...     return ExperienceRecord(f"r{i}", text, [{"role": "user", "content": "q"}],
        ...         {"episode": "e", "agent": i, "round": 0, "role": "debater", "node": "agent", "correct": correct})
        >>> [(c.completion, c.good, c.group) for c in debate_judged_calls([turn(0, "57", True), turn(1, "56", False)])]
        [('57', True, 'e/0'), ('56', False, 'e/0')]
    """
    return [judged(record, _is_right(record, config.target), f"{record['episode']}/{record['round']}")
            for record in records
            if record["node"] == "agent" and record["agent"] is not None and "error" not in record.metadata]
