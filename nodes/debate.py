"""The nodes of a multi-agent debate: an agent's turn, and the summary of its peers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal, TypedDict


from .answers import AnswerParser, parse_number, safe_parse

if TYPE_CHECKING:
    from .serving.model_pool import ModelPool

RoleScheme = Literal["per-agent", "generator-critic", "per-agent-generator-critic", "shared"]


def role_for(scheme: RoleScheme, agent: int, round_: int) -> str:
    """The role (and so the adapter) that agent ``agent`` plays in round ``round_``.

    ``generator-critic`` follows Multiagent Finetuning: the first answer comes from a
    generator, every revision from a critic. ``shared`` gives every agent one role (one
    adapter learns from all of them: the cheapest to distil, as the live learner does).

    Examples:
        >>> role_for("per-agent", 2, 1), role_for("generator-critic", 2, 1)
        ('debater-2', 'critic')
        >>> role_for("per-agent-generator-critic", 0, 0)
        'generator-0'
        >>> role_for("shared", 2, 1)
        'debater'
    """
    if scheme == "shared":
        return "debater"
    if scheme == "per-agent":
        return f"debater-{agent}"
    kind = "generator" if round_ == 0 else "critic"
    return kind if scheme == "generator-critic" else f"{kind}-{agent}"


@dataclass(frozen=True)
class DebatePrompts:
    """The debate's wording: data, so a user changes it without a subclass."""

    system: str | None = None
    later_round: str = (
        "Other agents answered:\n{others}\nUse their answers as advice and answer again. {question}"
    )
    other_item: str = "- {text}"
    summarize: str = "Summarize the answers below in one short sentence that keeps every final number.\n{others}"


@dataclass(frozen=True)
class DebateConfig:
    """Shape and sampling of a debate.

    Attributes:
        n_agents: Agents answering in parallel.
        n_rounds: Rounds, the first included; each later round shows the others' answers.
        summarize: Show a summary of the others' answers instead of the raw answers.
        roles: Which role (adapter) each agent plays per round.
        temperature: Sampling temperature for agents (0: greedy). 0.3 and 16 tokens were
            chosen on the validation split for the embedded model (see the README).
        max_tokens: Longest answer.
        parser: Reads the answer out of an agent's text; unparsable means None.
        prompts: The wording.
    """

    n_agents: int = 3
    n_rounds: int = 2
    summarize: bool = False
    roles: RoleScheme = "per-agent"
    temperature: float = 0.3
    max_tokens: int = 16
    parser: AnswerParser = parse_number
    prompts: DebatePrompts = field(default_factory=DebatePrompts)

    def __post_init__(self) -> None:
        if self.n_agents < 1 or self.n_rounds < 1:
            raise ValueError(f"a debate needs at least one agent and one round, got {self.n_agents} and {self.n_rounds}")

    def all_roles(self) -> list[str]:
        """Every role this debate uses, in a stable order."""
        roles = [role_for(self.roles, a, r) for r in range(self.n_rounds) for a in range(self.n_agents)]
        return list(dict.fromkeys(roles))


class AgentTurn(TypedDict):
    """One agent's output in one round."""

    agent: int
    round: int
    role: str
    text: str
    answer: str | None


class AgentTask(TypedDict):
    """What one agent needs for its turn: its whole conversation so far."""

    agent: int
    round: int
    messages: list[dict[str, str]]


class SummaryTask(TypedDict):
    agent: int
    round: int
    others: list[str]


class PeerSummary(TypedDict):
    agent: int
    round: int
    text: str


def agent_conversation(
    config: DebateConfig, question: str, own: list[AgentTurn], shown: list[list[str]]
) -> list[dict[str, str]]:
    """Rebuild an agent's conversation: its question, its answers, and what it was shown.

    ``shown[r]`` is what the agent saw of its peers before answering in round ``r + 1``.
    """
    prompts = config.prompts
    messages = [{"role": "system", "content": prompts.system}] if prompts.system else []
    messages.append({"role": "user", "content": question})
    for turn, others in zip(own, shown):
        listed = "\n".join(prompts.other_item.format(text=text) for text in others)
        messages.append({"role": "assistant", "content": turn["text"]})
        messages.append({"role": "user", "content": prompts.later_round.format(others=listed, question=question)})
    return messages


def _tagged(runnable: Any, **metadata: Any) -> Any:
    # The experience callback reads agent, round and role from run metadata.
    return runnable.with_config(metadata=metadata)


def make_agent_node(pool: ModelPool, config: DebateConfig) -> Callable[[AgentTask], dict]:
    """A node that plays one agent's turn: call the role's model, parse the answer."""

    def agent(task: AgentTask) -> dict:
        role = role_for(config.roles, task["agent"], task["round"])
        model = pool.model(role, temperature=config.temperature, max_tokens=config.max_tokens)
        reply = _tagged(model, agent=task["agent"], round=task["round"], role=role).invoke(task["messages"])
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        turn = AgentTurn(agent=task["agent"], round=task["round"], role=role, text=text, answer=safe_parse(config.parser, text))
        return {"turns": [turn]}

    return agent


# Namespaced: the chain protocol has a "summarizer" role of its own, which learns other things.
SUMMARIZER_ROLE = "debate-summarizer"


def make_summary_node(pool: ModelPool, config: DebateConfig) -> Callable[[SummaryTask], dict]:
    """A node that summarizes an agent's peers' answers (the base model, greedy)."""

    def summarize(task: SummaryTask) -> dict:
        model = pool.model(SUMMARIZER_ROLE, temperature=0.0, max_tokens=max(48, config.max_tokens))
        listed = "\n".join(config.prompts.other_item.format(text=t) for t in task["others"])
        prompt = [{"role": "user", "content": config.prompts.summarize.format(others=listed)}]
        reply = _tagged(model, agent=task["agent"], round=task["round"], role=SUMMARIZER_ROLE).invoke(prompt)
        return {"summaries": [PeerSummary(agent=task["agent"], round=task["round"], text=str(reply.content))]}

    return summarize
