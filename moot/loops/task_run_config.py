"""Settings of every loop that plays a protocol on a task (improve, live), beside :class:`~moot.runs.config.RunConfig`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from moot.evaluation.tasks import SplitSizes, Task, arithmetic_task, file_task
from moot.nodes.answers import answer_parser
from moot.nodes.chain import ChainConfig
from moot.nodes.critique import CritiqueConfig
from moot.nodes.debate import DebateConfig
from moot.protocols.user_graph_config import GraphConfig, load_builder
from moot.runs.config import RunConfig
from moot.training.examples import CurationConfig

TaskProtocol = Literal["debate", "chain", "critique", "graph"]
EvalSplit = Literal["validation", "test"]
TASK_PROTOCOLS: tuple[str, ...] = get_args(TaskProtocol)
"""The protocols that answer a task's questions (their configs are fields of :class:`TaskRunConfig`);
``graph`` is a graph of your own (:class:`~moot.protocols.user_graph.GraphConfig`)."""


@dataclass
class TaskRunConfig(RunConfig):
    """A protocol playing a task: which protocol, which task, how it is split, scored and curated.

    Attributes:
        protocol: Which protocol to play: ``debate``, ``chain``, ``critique``, or ``graph`` for
            a graph of your own (its builder in ``graph``).
        task: ``arithmetic`` or a task file: JSONL, CSV or Parquet, one problem per row.
        answer: How answers are read and compared: ``number``, ``choice`` (a letter A-J),
            ``yesno``, ``labels:a,b,c``, ``text`` (normalized exact text), ``math``
            (equivalence through math-verify), or ``module:function`` of your own that maps a
            reply to a canonical answer. Every protocol reads its agents' replies with it.
        question_field: The task file's column (or JSON key) holding the question.
        answer_field: The task file's column (or JSON key) holding the reference answer.
        level: Arithmetic difficulty (see :func:`moot.evaluation.tasks.arithmetic_task`).
        sizes: Train / validation / test split sizes.
        eval_split: Split the report scores (``test`` is held out; tune on ``validation``).
        debate, chain, critique, graph: Settings of each protocol (only the played one is used).
        curation: Which logged outputs become each role's training data.
    """

    protocol: TaskProtocol = "debate"
    task: str = "arithmetic"
    answer: str = "number"
    question_field: str = "question"
    answer_field: str = "answer"
    level: str = "sum2"
    sizes: SplitSizes = field(default_factory=SplitSizes)
    eval_split: EvalSplit = "test"
    debate: DebateConfig = field(default_factory=DebateConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    critique: CritiqueConfig = field(default_factory=CritiqueConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)

    def __post_init__(self) -> None:
        if self.task == "arithmetic" and self.answer != "number":
            raise ValueError(f"arithmetic answers are numbers; --answer {self.answer} is for a task file")
        # The protocols read replies the way the task's references were read, or nothing would match.
        parser = answer_parser(self.answer)
        self.debate, self.chain, self.critique, self.graph = (dataclasses.replace(c, parser=parser) for c in
                                                              (self.debate, self.chain, self.critique, self.graph))
        self.curation = dataclasses.replace(self.curation, answer=self.answer)
        if self.protocol == "graph":
            load_builder(self.graph.builder)  # a missing file or function stops here, before any run starts

    def check_gate_size(self, gate_problems: int, min_items: int) -> None:
        """Refuse a gate larger than the validation split it is drawn from (it would silently shrink),
        and one too small to ever promote (it would play its problems for nothing); 0 is no gate."""
        if gate_problems > self.sizes.validation:
            raise ValueError(f"the gate plays {gate_problems} validation problems but the validation split has "
                             f"{self.sizes.validation}: lower --gate-problems or raise --validation-size")
        if 0 < gate_problems < min_items:
            raise ValueError(f"a gate of {gate_problems} problems can never promote (it needs {min_items}): "
                             f"raise --gate-problems, or 0 for no gate")

    def load_task(self) -> Task:
        if self.task == "arithmetic":
            return arithmetic_task(self.level, self.sizes, seed=self.seed)
        return file_task(self.task, self.sizes, seed=self.seed, answer=self.answer,
                         question_field=self.question_field, answer_field=self.answer_field)

    @property
    def protocol_config(self) -> Any:
        """The settings of the protocol being played."""
        return {"debate": self.debate, "chain": self.chain, "critique": self.critique, "graph": self.graph}[self.protocol]
