"""Prompts as trainable parameters: an optimizer model rewrites a role's system prompt from its episodes.

This is OptoPrime's loop (Trace) over moot's own traces. The experience library already
holds every call of every episode, so the "trace" of a role is its records: the question,
what the role wrote, the episode's reward, and any textual feedback on it (a critic's or a
judge's words in the same episode, a user's correction stored with :meth:`ExperienceLibrary.add_feedback`).
The optimizer (any LangChain chat model: by default the embedded model itself, or a bigger
one behind an OpenAI-compatible endpoint) reads a batch of them beside the current prompt
and proposes a new prompt. A proposal is then gated like an adapter (:mod:`moot.promotion.gate`) and
recorded, versioned, in the run's lineage.

Examples:
    >>> from langchain_core.language_models import FakeListChatModel
    >>> optimizer = FakeListChatModel(responses=["PROMPT: Reply with the final number only."])
    >>> trace = [RoleTrace("What is 2 + 3?", "The answer is five", 0.0, "5", ["Say the number itself."])]
    >>> propose_prompt(optimizer, "solver", "", trace)
    'Reply with the final number only.'
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from moot.training.rewarded import episode_rewards

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from moot.stores import ExperienceRecord, Feedback

# Roles whose words are feedback on the other roles of their episode.
FEEDBACK_ROLES = ("critic", "judge")

_OPTIMIZER_PROMPT = """You improve the instruction (system prompt) given to the "{role}" in a team of language models.

Current instruction: {current}

Recent episodes of the {role}, with their outcome (reward 1 is right, 0 is wrong):
{episodes}

Write a better instruction for the {role}: one or two sentences that fix the mistakes above
and keep what worked. Reply with one line that starts with "PROMPT:"."""

_PROPOSAL = re.compile(r"PROMPT:\s*(.+)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PromptOptimizationConfig:
    """How prompts are searched.

    Attributes:
        rounds: Proposals per role per iteration, each gated (0: prompts stay fixed).
        batch: Training episodes of the role the optimizer reads per proposal.
        max_tokens: Longest proposal.
        temperature: The optimizer's sampling temperature.
        optimizer_url: An OpenAI-compatible endpoint (vLLM, a hosted model) of a bigger
            optimizer; default: the embedded model itself.
        optimizer_model: The model name the endpoint serves.
    """

    rounds: int = 0
    batch: int = 8
    max_tokens: int = 64
    temperature: float = 0.7
    optimizer_url: str | None = None
    optimizer_model: str = "default"


@dataclass(frozen=True)
class RoleTrace:
    """One call of a role as the optimizer sees it."""

    question: str
    output: str
    reward: float | None
    target: str | None = None
    feedback: list[str] = field(default_factory=list)


def role_traces(records: Sequence[ExperienceRecord], role: str, feedback: Sequence[Feedback] = ()) -> list[RoleTrace]:
    """The role's calls in ``records``, each with its episode's reward (the rule of
    :func:`moot.training.rewarded.episode_rewards`) and feedback (critics, judges, users).

    Examples:
        >>> from moot.stores import ExperienceRecord
        >>> calls = [ExperienceRecord("1", "5", [], {"role": "solver", "episode": "e", "question": "2 + 3?",
        ...                                          "final_correct": True, "target": "5"}),
        ...          ExperienceRecord("2", "Looks right.", [], {"role": "critic", "episode": "e"})]
        >>> role_traces(calls, "solver")
        [RoleTrace(question='2 + 3?', output='5', reward=1.0, target='5', feedback=['critic: Looks right.'])]
    """
    notes: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record["role"] in FEEDBACK_ROLES and record["role"] != role:
            notes[str(record["episode"])].append(f"{record['role']}: {record.text}")
    for row in feedback:
        if row.correction:
            notes[row.episode].append(f"{row.source}: the reply should have been {row.correction!r}")
    rewards = episode_rewards(records, feedback)
    return [RoleTrace(str(record["question"] or ""), record.text, rewards.get(str(record["episode"])),
                      None if record["target"] is None else str(record["target"]), notes.get(str(record["episode"]), []))
            for record in records if record["role"] == role]


def _describe(trace: RoleTrace) -> str:
    lines = [f"- Question: {trace.question}", f"  {trace.output!r}",
             f"  reward {'unknown' if trace.reward is None else f'{trace.reward:g}'}"
             + (f" (the right answer was {trace.target})" if trace.target and not trace.reward else "")]
    lines += [f"  feedback from {note}" for note in trace.feedback]
    return "\n".join(lines)


def propose_prompt(optimizer: BaseChatModel | Any, role: str, current: str, traces: Sequence[RoleTrace]) -> str | None:
    """The optimizer's proposal for ``role``'s prompt, or None when its reply holds none."""
    message = _OPTIMIZER_PROMPT.format(role=role, current=current or "(none)",
                                       episodes="\n".join(_describe(t) for t in traces))
    reply = str(optimizer.invoke([{"role": "user", "content": message}]).content)
    found = _PROPOSAL.search(reply)
    if not found:
        return None
    proposal = " ".join(found.group(1).split())
    return proposal if proposal and proposal != current else None


def optimizer_model(config: PromptOptimizationConfig, pool: Any) -> Any:
    """The optimizer: the endpoint's model, or the pool's base model under a role that never trains."""
    sampling = {"temperature": config.temperature, "max_tokens": config.max_tokens}
    if config.optimizer_url:
        from langchain_openai import ChatOpenAI  # here: the config beside it must import light

        return ChatOpenAI(base_url=config.optimizer_url, model=config.optimizer_model,
                          api_key=os.environ.get("MOOT_OPTIMIZER_API_KEY", "EMPTY"), **sampling)
    return pool.model("prompt-optimizer", **sampling)
