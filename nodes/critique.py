"""Actor, judge and critic: the nodes of the critique protocol (SiriuS actor-critic)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypedDict

from .answers import AnswerParser, parse_number, safe_parse

if TYPE_CHECKING:
    from .serving.model_pool import ModelPool

_VERDICT = re.compile(r"\b(true|false|correct|incorrect|wrong|right|yes|no)\b", re.IGNORECASE)
_POSITIVE = {"true", "correct", "right", "yes"}


def parse_verdict(text: str) -> bool | None:
    """The judge's verdict: the first True/False-like word, or None when there is none.

    Examples:
        >>> parse_verdict("True."), parse_verdict("The answer is incorrect"), parse_verdict("Hmm")
        (True, False, None)
    """
    match = _VERDICT.search(text or "")
    return None if match is None else match.group(1).lower() in _POSITIVE


@dataclass(frozen=True)
class CritiquePrompts:
    """The wording of each role; none of them shows the ground truth."""

    judge: str = (
        "Problem: {question}\nProposed answer: {answer}\n"
        "Is the proposed answer correct? Reply with True or False only."
    )
    critic: str = (
        "Problem: {question}\nProposed answer: {answer}\n"
        "The answer was judged wrong. In one or two sentences, say what to check or redo. Do not give the answer."
    )
    retry: str = "Feedback: {feedback}\nAnswer the problem again. {question}"


@dataclass(frozen=True)
class CritiqueConfig:
    """Settings of the actor / judge / critic loop.

    Attributes:
        max_retries: How many times the actor may answer again after a False verdict.
        temperature: Sampling temperature of the actor and the critic (the judge is greedy).
        max_tokens, judge_max_tokens, critic_max_tokens: Longest answer, verdict and critique.
        parser: Reads the answer out of the actor's text.
        unparsable_verdict: How a verdict with no True/False in it is read (default: True,
            accept, so a rambling judge cannot loop forever; it is still logged as unparsable).
    """

    max_retries: int = 1
    temperature: float = 0.3
    max_tokens: int = 16
    judge_max_tokens: int = 4
    critic_max_tokens: int = 40
    parser: AnswerParser = parse_number
    unparsable_verdict: bool = True
    prompts: CritiquePrompts = field(default_factory=CritiquePrompts)

    def all_roles(self) -> list[str]:
        return ["actor", "judge", "critic"]


class Attempt(TypedDict):
    index: int
    text: str
    answer: str | None


class Verdict(TypedDict):
    index: int
    text: str
    verdict: bool
    parsed: bool


class Critique(TypedDict):
    index: int
    text: str


def actor_messages(config: CritiqueConfig, question: str, attempts: list[Attempt], feedback: list[Critique]) -> list[dict[str, str]]:
    """The actor's conversation: the question, then each earlier answer and its feedback."""
    messages = [{"role": "user", "content": question}]
    notes = {f["index"]: f["text"] for f in feedback}
    for attempt in sorted(attempts, key=lambda a: a["index"]):
        messages.append({"role": "assistant", "content": attempt["text"]})
        messages.append({"role": "user", "content": config.prompts.retry.format(feedback=notes.get(attempt["index"], ""), question=question)})
    return messages


def _ask(pool: ModelPool, role: str, max_tokens: int, temperature: float, index: int, messages: list[dict[str, str]]) -> str:
    model = pool.model(role, temperature=temperature, max_tokens=max_tokens)
    return str(model.with_config(metadata={"role": role, "round": index, "agent": 0}).invoke(messages).content)


def make_actor_node(pool: ModelPool, config: CritiqueConfig) -> Callable[[dict], dict]:
    def actor(state: dict) -> dict:
        attempts, feedback = state.get("attempts", []), state.get("feedback", [])
        index = len(attempts)
        text = _ask(pool, "actor", config.max_tokens, config.temperature, index,
                    actor_messages(config, state["question"], attempts, feedback))
        return {"attempts": [Attempt(index=index, text=text, answer=safe_parse(config.parser, text))]}

    return actor


def make_judge_node(pool: ModelPool, config: CritiqueConfig) -> Callable[[dict], dict]:
    def judge(state: dict) -> dict:
        latest = max(state["attempts"], key=lambda a: a["index"])
        prompt = config.prompts.judge.format(question=state["question"], answer=latest["text"])
        text = _ask(pool, "judge", config.judge_max_tokens, 0.0, latest["index"], [{"role": "user", "content": prompt}])
        verdict = parse_verdict(text)
        return {"verdicts": [Verdict(index=latest["index"], text=text, parsed=verdict is not None,
                                     verdict=config.unparsable_verdict if verdict is None else verdict)]}

    return judge


def make_critic_node(pool: ModelPool, config: CritiqueConfig) -> Callable[[dict], dict]:
    def critic(state: dict) -> dict:
        latest = max(state["attempts"], key=lambda a: a["index"])
        prompt = config.prompts.critic.format(question=state["question"], answer=latest["text"])
        text = _ask(pool, "critic", config.critic_max_tokens, config.temperature, latest["index"], [{"role": "user", "content": prompt}])
        return {"feedback": [Critique(index=latest["index"], text=text)]}

    return critic
