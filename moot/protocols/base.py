"""The protocol contract: what the loops need to know about a kind of graph, typed by its config.

A protocol builds its graph from a pool and its config, names its roles, annotates each
logged call with the episode's outcome, and curates per-role training sets from the
library. A :class:`RepairableProtocol` can also find its failed trajectories and re-run one
from a repaired step (SiriuS augmentation).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Any, Callable, ClassVar, Generic, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from moot.nodes.serving.model_pool import ModelPool
from moot.evaluation.report import Score
from moot.stores import Annotator, ExperienceRecord
from moot.evaluation.tasks import Problem
from moot.training import CurationConfig, JudgedExample, LoraTrainingConfig, TrainingExample, objective_sets
from moot.training.preferences import TrainingData
from moot.training.task_rewards import TaskPrompt, task_prompts
from moot.training.rewarded import rewarded_judged_calls

from .augmentation import FailedTrajectory, Rerun, Step

ConfigT = TypeVar("ConfigT")


class Protocol(ABC, Generic[ConfigT]):
    """How the loops play, judge and learn from one kind of graph whose settings are a ``ConfigT``."""

    name: ClassVar[str]
    single_agent_learns: ClassVar[bool] = False
    """Whether the single-agent baseline runs a role that gets an adapter (then it is re-scored)."""
    answering_nodes: ClassVar[tuple[str, ...]] = ()
    """The nodes whose every reply answers the task's question, so that GRPO can reward a fresh one alone."""

    @abstractmethod
    def build(self, pool: ModelPool, config: ConfigT) -> CompiledStateGraph:
        """The compiled graph, each role's model taken from ``pool``."""

    @abstractmethod
    def annotate(self, state: Any, record: dict[str, Any]) -> dict[str, Any]:
        """Outcome fields for one logged call, from the episode's final state."""

    @property
    def annotators(self) -> dict[str, Annotator]:
        """The logger's annotators: this protocol's calls are annotated from its own graph's
        final state (its graph is compiled under the protocol's name), also when it runs
        nested in a user's graph."""
        return {self.name: self.annotate}

    @abstractmethod
    def curate(self, records: list[ExperienceRecord], curation: CurationConfig) -> dict[str, list[TrainingExample]]:
        """Per-role training sets from this protocol's logged records."""

    def judge(self, records: list[ExperienceRecord], curation: CurationConfig) -> list[JudgedExample]:
        """Every learnable call marked good or bad, grouped with the calls that answered the same
        question: what DPO pairs and KTO learn from.

        By default a call is good when its episode's reward passes, and calls are grouped by
        the prompt they saw (:func:`~moot.training.rewarded.rewarded_judged_calls`).
        """
        return rewarded_judged_calls(records)

    def task_prompts(self, records: list[ExperienceRecord], curation: CurationConfig) -> list[TaskPrompt]:
        """The prompts GRPO samples fresh replies to: those of :attr:`answering_nodes`, with their
        reference answers, read by the task's answer type.

        Raises:
            ValueError: this protocol has no node whose reply answers the task alone.
        """
        if not self.answering_nodes:
            raise ValueError(f"grpo rewards each reply by the task's answer check, and no call of {self.name} "
                             f"answers the task alone: choose sft, dpo or kto")
        return task_prompts(records, self.answering_nodes, curation.answer)

    def training_sets(self, records: list[ExperienceRecord], curation: CurationConfig,
                      lora: LoraTrainingConfig) -> dict[str, list[TrainingData]]:
        """Each role's data for the objective ``lora`` gives it: curated examples, DPO pairs,
        judged calls or task prompts."""
        curated = self.curate(records, curation)
        if lora.objectives == {"sft"}:
            return dict(curated)
        judged = self.judge(records, curation) if lora.objectives & {"dpo", "kto"} else []
        prompts = self.task_prompts(records, curation) if "grpo" in lora.objectives else []
        return objective_sets(curated, judged, lora.objective_for, prompts)

    def as_node(self, pool: ModelPool, config: ConfigT, *, question_key: str = "question",
                answer_key: str = "answer") -> Callable[[dict[str, Any], RunnableConfig], dict[str, Any]]:
        """This protocol as one node of a user's graph whose state has other keys.

        The mapping: the parent's ``state[question_key]`` becomes the protocol's input
        ``{"question": ...}``; its final answer comes back as ``{answer_key: ...}``. The
        protocol runs as a subgraph (its run keeps the protocol's name, so
        :attr:`annotators` label its calls from its own state), with the parent's callbacks.

        Examples:
            >>> from langchain_core.language_models import FakeListChatModel
            >>> from langgraph.graph import START, StateGraph
            >>> from typing import TypedDict
            >>> from moot.nodes import DebateConfig, SharedModelPool
            >>> from moot.protocols import DEBATE
            >>> class Ticket(TypedDict, total=False):
            ...     task: str
            ...     solution: str
            >>> pool = SharedModelPool(FakeListChatModel(responses=["42"]))
            >>> parent = StateGraph(Ticket)
            >>> _ = parent.add_node("solve", DEBATE.as_node(pool, DebateConfig(n_agents=2, n_rounds=1),
            ...                                             question_key="task", answer_key="solution"))
            >>> _ = parent.add_edge(START, "solve")
            >>> parent.compile().invoke({"task": "6 * 7?"})
            {'task': '6 * 7?', 'solution': '42'}
        """
        graph = self.build(pool, config)

        def node(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:  # LangGraph passes `config` by name
            return {answer_key: self.final_answer(graph.invoke({"question": state[question_key]}, config))}

        node.__name__ = self.name
        return node

    def roles(self, config: ConfigT) -> list[str]:
        """Every role the graph calls a model for (each can get its own adapter)."""
        return config.all_roles()  # type: ignore[attr-defined]

    def final_answer(self, state: dict[str, Any]) -> str | None:
        return state.get("final_answer")

    def extra_scores(self, split: str, states: list[dict | None], problems: list[Problem], iteration: int) -> list[Score]:
        """Scores beyond accuracy that this protocol reports (none by default)."""
        return []


class RepairableProtocol(Protocol[ConfigT]):
    """A protocol whose failed trajectories can be repaired and re-run from the repaired step."""

    @abstractmethod
    def trajectory_nodes(self, config: ConfigT) -> list[str]:
        """Node names whose records form a trajectory."""

    @abstractmethod
    def resume_state(self, config: ConfigT, steps: list[Step]) -> dict[str, Any]:
        """The graph input that resumes an episode after ``steps`` (the last one repaired)."""

    def failed_trajectories(self, records: list[ExperienceRecord], config: ConfigT) -> list[FailedTrajectory]:
        """Logged episodes that ended wrong, as steps in order (original plays only)."""
        nodes = set(self.trajectory_nodes(config))
        episodes: dict[str, list[ExperienceRecord]] = defaultdict(list)
        for record in records:
            if (record["node"] in nodes and not record["augmented"] and record["final_correct"] is False
                    and "error" not in record.metadata):
                episodes[str(record["episode"])].append(record)
        failed = []
        for episode, steps in sorted(episodes.items()):
            steps.sort(key=lambda r: (int(r["round"] or 0), str(r["node"])))
            first = steps[0].metadata
            context = {k: first[k] for k in ("run", "iteration", "task", "protocol", "split", "setting", "problem_id",
                                             "target", "question") if k in first}
            failed.append(FailedTrajectory(episode, str(first.get("question", "")), str(first.get("target", "")),
                                           [Step(str(r["role"]), int(r["round"] or 0), r.messages, r.text) for r in steps],
                                           context))
        return failed

    def rerun(self, pool: ModelPool, config: ConfigT) -> Rerun:
        """A function that plays an episode on from a repaired step and returns its final answer."""
        graph = self.build(pool, config)

        def run(question: str, before: list[Step], repaired: Step, callbacks: list, metadata: dict[str, Any]) -> str | None:
            state = graph.invoke({"question": question, **self.resume_state(config, [*before, repaired])},
                                 {"callbacks": callbacks, "metadata": metadata})
            return self.final_answer(state)

        return run
