"""What every loop that plays a protocol on a task shares: the task, the protocol, logged play and scoring."""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Console

from moot.evaluation.report import Score
from moot.evaluation.tasks import Problem
from moot.loops.task_run_config import TASK_PROTOCOLS, TaskRunConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.protocols import Protocol, get_protocol
from moot.protocols.user_graph import GraphProtocol
from moot.runs.driver import ReportT, RunDriver
from moot.runs.folder import RunMode


def task_protocol(config: TaskRunConfig) -> Protocol:
    """The protocol ``config`` plays on its task (a graph of your own, or one by name)."""
    if config.protocol not in TASK_PROTOCOLS:
        raise ValueError(f"a task run plays {', '.join(TASK_PROTOCOLS)} on a task; "
                         f"{config.protocol} is played by its own driver (moot selfplay)")
    return GraphProtocol(config.graph) if config.protocol == "graph" else get_protocol(config.protocol)


class TaskRun(RunDriver[ReportT]):
    """A run that plays a protocol on a task's problems (see :class:`~moot.runs.driver.RunDriver`).

    Args:
        mode: ``new`` refuses a run folder that holds another run; ``resume`` continues the
            run in it at its first unfinished phase (and, within a play phase, at its first
            unplayed episode); ``overwrite`` clears it first.
    """

    config: TaskRunConfig

    def __init__(self, config: TaskRunConfig, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new"):
        self.protocol = task_protocol(config)
        self.task = config.load_task()
        self.protocol_config = config.protocol_config
        super().__init__(config, pool, console, mode)

    @property
    def serving_pool(self) -> ModelPool:
        """The pool the protocol plays on."""
        return self.pool

    def play_problems(self, problems: Sequence[Problem], protocol: Protocol, protocol_config: Any, *, split: str,
                      iteration: int, label: str) -> list[dict | None]:
        """Run one logged episode per problem; failed episodes give None."""
        to_play = set(self.unplayed([p.id for p in problems], iteration=iteration, split=split, label=label))
        problems = [p for p in problems if p.id in to_play]
        metadata = [self.episode_metadata(iteration=iteration, split=split, label=label, item=p.id, protocol=protocol.name,
                                          task=self.task.name, problem_id=p.id, target=p.answer, question=p.question)
                    for p in problems]
        # Each protocol annotates its own records (the single-agent baseline is a debate).
        return self.play(protocol.build(self.serving_pool, protocol_config), [{"question": p.question} for p in problems],
                         metadata, protocol.annotators, f"{label} ({split}, iteration {iteration})")

    def evaluate(self, name: str, protocol: Protocol, protocol_config: Any, iteration: int) -> Score:
        problems = self.task.split(self.config.eval_split)
        states = self.play_problems(problems, protocol, protocol_config, split=self.config.eval_split,
                                    iteration=iteration, label=name)
        outcomes = [s is not None and protocol.final_answer(s) == p.answer for s, p in zip(states, problems)]
        score = Score.of(name, outcomes, iteration)
        extra = protocol.extra_scores(self.config.eval_split, states, problems, iteration)
        self.report.scores.extend([score, *extra])
        for s in (score, *extra):
            self.console.print(f"{s.name}: {s.accuracy:.3f} ± {s.stderr:.3f} (n={s.n})")
        return score

