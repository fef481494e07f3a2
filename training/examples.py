"""Curating per-role training sets from the experience library (Multiagent Finetuning style).

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
from dataclasses import dataclass
from typing import Iterable, Literal

from moot.stores import ExperienceRecord

Target = Literal["ground_truth", "consensus"]


@dataclass(frozen=True)
class TrainingExample:
    """A prompt (chat messages) and the completion to learn, traced to its record."""

    record_id: str
    role: str
    prompt: list[dict[str, str]]
    completion: str


@dataclass(frozen=True)
class CurationConfig:
    """Which logged outputs become training data.

    Attributes:
        target: What counts as right: the task's ground truth, or the debate's majority.
        right_to_right_fraction: Share of right -> right revisions kept (wrong -> right are
            always kept).
        seed: For the sampling above.
    """

    target: Target = "ground_truth"
    right_to_right_fraction: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.right_to_right_fraction <= 1.0:
            raise ValueError(f"right_to_right_fraction must be in [0, 1], got {self.right_to_right_fraction}")


def _is_right(record: ExperienceRecord, target: Target) -> bool:
    flag = record["correct"] if target == "ground_truth" else record["consensus"]
    return bool(flag)


def debate_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """Per-role training examples from logged debate turns.

    Example:
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
            sets[str(turn["role"])].append(_example(turn))
    return dict(sets)


def _example(record: ExperienceRecord) -> TrainingExample:
    return TrainingExample(record.id, str(record["role"]), record.messages, record.text)


def chain_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """SiriuS: every role learns its own step from the trajectories that ended right.

    Augmented (repaired) steps count like any other; the records of repair attempts
    themselves (node ``repair``) never become training data.
    """
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] != "repair" and record["final_correct"] and "error" not in record.metadata and record["role"]:
            sets[str(record["role"])].append(_example(record))
    return dict(sets)


def critique_training_sets(records: Iterable[ExperienceRecord], config: CurationConfig = CurationConfig()) -> dict[str, list[TrainingExample]]:
    """Actor: right answers; judge: right verdicts; critic: feedback followed by a right answer."""
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] in ("actor", "judge", "critic") and record["correct"] and "error" not in record.metadata:
            sets[str(record["role"])].append(_example(record))
    return dict(sets)


NegotiationFilter = Literal["won", "deal", "utility"]


def negotiation_training_sets(
    records: Iterable[ExperienceRecord], keep: NegotiationFilter = "won", utility_threshold: float = 0.0
) -> dict[str, list[TrainingExample]]:
    """A player's valid turns from the games its outcome passed ``keep``.

    ``won``: it ended with more utility than its opponent; ``deal``: the game closed;
    ``utility``: its utility reached ``utility_threshold``. Invalid turns never train.

    Example:
        >>> from moot.stores import ExperienceRecord
        >>> turn = ExperienceRecord("t", "ACTION: ACCEPT", [], {"node": "player", "role": "buyer",
        ...                         "valid": True, "won": True, "deal": True, "utility": 5.0})
        >>> [len(v) for v in negotiation_training_sets([turn]).values()]
        [1]
    """
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for record in records:
        if record["node"] != "player" or not record["valid"] or "error" in record.metadata:
            continue
        passed = {
            "won": bool(record["won"]),
            "deal": bool(record["deal"]),
            "utility": record["utility"] is not None and float(record["utility"]) >= utility_threshold,
        }[keep]
        if passed:
            sets[str(record["role"])].append(_example(record))
    return dict(sets)
