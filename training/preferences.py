"""Preference data from the agents' own disagreements: calls judged good or bad, and pairs of them.

A protocol judges each learnable call (a debate turn is right or wrong, a negotiator won or
lost) and groups the calls that answered the same question: the agents of one debate round,
the revisions of one critique, the calls that saw one prompt. Inside a group,

* DPO learns from pairs: every call is paired with each reply of the group that went the
  other way (its own prompt, the good reply chosen, the bad one rejected);
* KTO learns from the judged calls themselves, so a group where every call went the same
  way (no pair) still teaches.

Each protocol's judging rule sits beside its curation rule, in the module of its name.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Literal, get_args

from .examples import TrainingExample
from .task_rewards import TaskPrompt

if TYPE_CHECKING:
    from moot.stores import ExperienceRecord

Objective = Literal["sft", "dpo", "kto", "grpo"]
"""What an adapter learns: kept replies (SFT), good-over-bad pairs (DPO), replies marked good or bad
(KTO), or its own fresh replies to the prompts it saw, rewarded by the task's answer check (GRPO)."""

OBJECTIVES: tuple[Objective, ...] = get_args(Objective)


@dataclass(frozen=True)
class JudgedExample(TrainingExample):
    """A logged call marked good or bad, with the group of calls that answered the same question."""

    good: bool
    group: str


@dataclass(frozen=True)
class PreferencePair:
    """One prompt, a reply to prefer and a reply to avoid, traced to the records they came from."""

    role: str
    prompt: list[dict[str, str]]
    chosen: str
    rejected: str
    chosen_id: str
    rejected_id: str

    @property
    def record_ids(self) -> list[str]:
        return [self.chosen_id, self.rejected_id]


def judged(record: ExperienceRecord, good: bool, group: str) -> JudgedExample:
    """A logged call as a judged example: its prompt, and its reply marked good or bad."""
    return JudgedExample(record.id, str(record["role"]), record.messages, record.text, good, group)


def same_prompt(record: ExperienceRecord) -> str:
    """The group of the calls that saw exactly this call's messages."""
    return json.dumps(record.messages, sort_keys=True)


TrainingData = TrainingExample | PreferencePair | TaskPrompt
"""One item a role trains on: an example (SFT, KTO when judged), a pair (DPO) or a prompt with its reference (GRPO)."""


def preference_pairs(judged: Iterable[JudgedExample]) -> dict[str, list[PreferencePair]]:
    """Per-role DPO pairs: each call against every reply of its group that went the other way.

    Replies with the same text never pair, and a pair is kept once per role.

    Examples:
        >>> def call(i, text, good):
        ...     return JudgedExample(f"r{i}", "solver", [{"role": "user", "content": "2+2?"}], text, good, "e1")
        >>> pairs = preference_pairs([call(0, "4", True), call(1, "5", False), call(2, "5", False)])
        >>> [(p.chosen, p.rejected) for p in pairs["solver"]]
        [('4', '5')]
    """
    groups: dict[str, list[JudgedExample]] = defaultdict(list)
    for call in judged:
        groups[call.group].append(call)
    pairs: dict[str, dict[tuple, PreferencePair]] = defaultdict(dict)
    for group in groups.values():
        for call in group:
            for other in group:
                if other.good == call.good or other.completion == call.completion:
                    continue
                chosen, rejected = (call, other) if call.good else (other, call)
                key = (repr(call.prompt), chosen.completion, rejected.completion)
                pairs[call.role].setdefault(key, PreferencePair(call.role, call.prompt, chosen.completion,
                                                                rejected.completion, chosen.record_id, rejected.record_id))
    return {role: list(found.values()) for role, found in pairs.items()}


def objective_sets(curated: dict[str, list[TrainingExample]], judged: Iterable[JudgedExample],
                   objective_for: Callable[[str], Objective], prompts: Iterable[TaskPrompt] = ()) -> dict[str, list[TrainingData]]:
    """Each role's training data for its objective: its curated examples (SFT), pairs (DPO), judged
    calls (KTO) or the prompts it answered (GRPO).

    Examples:
        >>> calls = [JudgedExample("a", "solver", [], "4", True, "e1"), JudgedExample("b", "solver", [], "5", False, "e1")]
        >>> sets = objective_sets({"solver": [calls[0]]}, calls, lambda role: "dpo")
        >>> [(p.chosen, p.rejected) for p in sets["solver"]]
        [('4', '5')]
    """
    sets: dict[str, list[TrainingData]] = {role: list(examples) for role, examples in curated.items()
                                           if objective_for(role) == "sft"}
    calls = [call for call in judged if objective_for(call.role) != "sft"]
    sets.update(preference_pairs(call for call in calls if objective_for(call.role) == "dpo"))
    for item in [*calls, *prompts]:
        if objective_for(item.role) == ("kto" if isinstance(item, JudgedExample) else "grpo"):
            sets.setdefault(item.role, []).append(item)
    return sets
