"""One step of a collaborative chain: a role reads the question and the earlier roles' work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, TypedDict

from .answers import AnswerParser, parse_number

if TYPE_CHECKING:
    from .serving.model_pool import ModelPool


@dataclass(frozen=True)
class ChainStep:
    """A role in a chain: its name, its system prompt, and how it is asked.

    ``instruction`` may use ``{question}`` and ``{previous}`` (the earlier roles' outputs).
    """

    role: str
    system: str
    instruction: str = "Problem: {question}\n\n{previous}"
    max_tokens: int = 48


# SiriuS's problem-solving chain, worded for short numeric answers.
MATH_CHAIN: tuple[ChainStep, ...] = (
    ChainStep(
        "domain-expert",
        "You are a domain expert. Explain in one or two sentences how to solve the problem. Do not calculate the result.",
        "Problem: {question}",
        max_tokens=40,
    ),
    ChainStep(
        "mathematician",
        "You are a mathematician. Follow the expert's method and calculate the result step by step.",
        "Problem: {question}\n\n{previous}\n\nNow calculate.",
        max_tokens=32,
    ),
    ChainStep(
        "summarizer",
        "You state final answers. Reply with the number only.",
        "Problem: {question}\n\n{previous}\n\nWhat is the final answer? Reply with the number only.",
        max_tokens=12,
    ),
)


@dataclass(frozen=True)
class ChainConfig:
    """A chain of roles; the last role's output is parsed as the answer.

    Attributes:
        steps: The roles, in order. Data, not code: compose your own.
        temperature: Sampling temperature for every step.
        parser: Reads the final answer from the last step's text.
    """

    steps: tuple[ChainStep, ...] = MATH_CHAIN
    temperature: float = 0.3
    parser: AnswerParser = parse_number

    def __post_init__(self) -> None:
        roles = [s.role for s in self.steps]
        if not roles:
            raise ValueError("a chain needs at least one step")
        if len(set(roles)) != len(roles):
            raise ValueError(f"chain roles must be unique, got {roles}")

    def all_roles(self) -> list[str]:
        return [s.role for s in self.steps]


class StepOutput(TypedDict):
    index: int
    role: str
    text: str


def step_messages(config: ChainConfig, index: int, question: str, previous: list[StepOutput]) -> list[dict[str, str]]:
    """The prompt of step ``index`` given the earlier steps' outputs."""
    step = config.steps[index]
    earlier = "\n\n".join(f"{o['role']}: {o['text']}" for o in sorted(previous, key=lambda o: o["index"]))
    return [
        {"role": "system", "content": step.system},
        {"role": "user", "content": step.instruction.format(question=question, previous=earlier).strip()},
    ]


def make_step_node(pool: ModelPool, config: ChainConfig, index: int) -> Callable[[dict], dict]:
    """A node that runs step ``index`` of the chain."""
    step = config.steps[index]

    def run_step(state: dict) -> dict:
        earlier = [o for o in state.get("outputs", []) if o["index"] < index]
        messages = step_messages(config, index, state["question"], earlier)
        model = pool.model(step.role, temperature=config.temperature, max_tokens=step.max_tokens)
        reply = model.with_config(metadata={"role": step.role, "round": index, "agent": 0}).invoke(messages)
        return {"outputs": [StepOutput(index=index, role=step.role, text=str(reply.content))]}

    return run_step
