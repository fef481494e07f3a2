"""GRPO's data: the prompts a role answered, each with the task's reference answer, and the reward of a fresh reply.

GRPO (trl's ``GRPOTrainer``) samples ``num_generations`` replies to each prompt from the
adapter being trained, rewards each by the task's own answer check (1 when the reply reads
as the reference answer, else 0) and moves toward the replies that beat their group's mean.
A group whose replies all score the same teaches nothing. The prompts are the ones the role
saw in play, so the data are the agents' own, as for the other objectives; only the replies
are new.

A reply is rewarded alone, so GRPO fits the roles whose every reply answers the task's
question: a debate's agents (the single agent of a society of one, above all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable

from moot.nodes.answers import AnswerParser, answer_parser, safe_parse

if TYPE_CHECKING:
    from moot.stores import ExperienceRecord


@dataclass(frozen=True)
class TaskPrompt:
    """A prompt a role answered in play, the task's reference answer, and how a reply is read.

    Attributes:
        answer: The task's answer type (``number``, ``labels:a,b,c``, ``module:function``...;
            see :func:`moot.nodes.answers.answer_parser`): a name, so that the item reaches a
            training process that rebuilds the parser.
    """

    record_id: str
    role: str
    prompt: list[dict[str, str]]
    target: str
    answer: str

    @property
    def record_ids(self) -> list[str]:
        return [self.record_id]


def task_prompts(records: Iterable[ExperienceRecord], nodes: Iterable[str], answer: str) -> list[TaskPrompt]:
    """Each role's distinct prompts among the calls of ``nodes`` that have a reference answer.

    Examples:
        >>> from moot.stores import ExperienceRecord
        >>> def turn(i, question, node="agent"):
        ...     return ExperienceRecord(f"r{i}", "57", [{"role": "user", "content": question}],
        ...                             {"role": "debater", "node": node, "target": "57"})
        >>> prompts = task_prompts([turn(0, "50+7?"), turn(1, "50+7?"), turn(2, "5+2?"), turn(3, "q", "judge")],
        ...                        nodes=["agent"], answer="number")
        >>> [(p.record_id, p.prompt[0]["content"], p.target) for p in prompts]
        [('r0', '50+7?', '57'), ('r2', '5+2?', '57')]
    """
    nodes = set(nodes)
    seen: set[tuple[str, str]] = set()
    prompts = []
    for record in records:
        if record["node"] not in nodes or record["target"] is None or "error" in record.metadata:
            continue
        key = (str(record["role"]), json.dumps(record.messages, sort_keys=True))
        if key not in seen:
            seen.add(key)
            prompts.append(TaskPrompt(record.id, key[0], record.messages, str(record["target"]), answer))
    return prompts


@lru_cache(maxsize=None)
def _parser(answer: str) -> AnswerParser:
    return answer_parser(answer)


def answer_reward(completions: list[Any], target: list[str], answer: list[str], **_: Any) -> list[float]:
    """GRPO's reward function: 1.0 for each reply that reads as its reference answer, else 0.0.

    trl passes the sampled ``completions`` (chat messages for a chat dataset) and, per
    completion, the dataset's other columns: here ``target`` and ``answer``.

    Examples:
        >>> answer_reward([[{"role": "assistant", "content": "It is 57."}], [{"role": "assistant", "content": "56"}]],
        ...               target=["57", "57"], answer=["number", "number"])
        [1.0, 0.0]
    """
    replies = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [float(safe_parse(_parser(spec), reply) == reference) for reply, reference, spec in zip(replies, target, answer)]
