"""A team of your own: a planner -> solver -> checker LangGraph graph built from moot's nodes, improved by moot.

The roles are data (``ChainStep``), the graph is yours (any LangGraph wiring; here a
straight line with a parsed answer at the end), and moot's machinery improves it: every
call is logged, each episode is rewarded from the task's answer, the learner distils each
role's rewarded calls into its own LoRA adapter and hot-swaps it once the gate (held-out
validation problems) agrees. The held-out test split scores the team before and after.

Run it (about 15 minutes on 2 cores; ``--train 12 --test 6 --max-steps 2`` for a smoke run)::

    python examples/planner_solver_checker.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from moot import Learner, LearnerConfig, LocalModelPool, TaskGate, arithmetic_task
from moot.evaluation.report import Score
from moot.evaluation.tasks import SplitSizes
from moot.graphs import ChainState
from moot.nodes import ChainConfig, ChainStep, ModelPool
from moot.nodes.answers import parse_number, safe_parse
from moot.nodes.chain import make_step_node
from moot.stores.record_schema import Outcome
from moot.training import LoraTrainingConfig

TEAM = ChainConfig(steps=(
    ChainStep("planner", "You plan. Say in one sentence which operation solves the problem. Do not calculate.",
              "Problem: {question}", max_tokens=32),
    ChainStep("solver", "You calculate. Follow the plan and compute the result.",
              "Problem: {question}\n\n{previous}\n\nCompute it.", max_tokens=24),
    ChainStep("checker", "You check. Reply with the correct final number only.",
              "Problem: {question}\n\n{previous}\n\nWhat is the correct final answer? Reply with the number only.",
              max_tokens=8),
), temperature=0.3)


def build_team(pool: ModelPool, config: ChainConfig = TEAM) -> Any:
    """The user's own graph, wired from moot's step nodes."""
    builder = StateGraph(ChainState)
    for index, step in enumerate(config.steps):
        builder.add_node(step.role, make_step_node(pool, config, index))
    builder.add_node("answer", lambda state: {"final_answer": safe_parse(parse_number, max(
        state["outputs"], key=lambda o: o["index"])["text"])})
    roles = [s.role for s in config.steps]
    builder.add_edge(START, roles[0])
    for role, following in zip(roles, [*roles[1:], "answer"]):
        builder.add_edge(role, following)
    builder.add_edge("answer", END)
    return builder.compile(name="team")


class Team:
    """What moot's gate needs of a graph: how to build it on a pool, and where its answer is."""

    def build(self, pool: ModelPool, config: ChainConfig) -> Any:
        return build_team(pool, config)

    def final_answer(self, state: dict) -> str | None:
        return state.get("final_answer")


def reward(state: dict, record: dict) -> Outcome:
    """Every call of an episode is rewarded with whether the team's final answer was right."""
    right = state.get("final_answer") == record.get("target")
    return {"final_correct": right, "reward": float(right)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Improve a planner -> solver -> checker team of your own.")
    parser.add_argument("--train", type=int, default=96)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--validation", type=int, default=20, help="problems each role's gate plays")
    parser.add_argument("--every", type=int, default=8, help="rewarded calls of a role that make it distil")
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--run-dir", type=Path, default=None)
    args = parser.parse_args()
    task = arithmetic_task("sum2", SplitSizes(train=args.train, validation=args.validation, test=args.test))
    pool = LocalModelPool()
    test_gate = TaskGate(Team(), TEAM, task.test)

    (before,) = test_gate.score([pool])
    settings = LearnerConfig(every=args.every, lora=LoraTrainingConfig(max_steps=args.max_steps))
    learner = Learner(pool, args.run_dir or Path(tempfile.mkdtemp(prefix="team-")), config=settings,
                      annotators={"team": reward}, gate=TaskGate(Team(), TEAM, task.validation))
    team = build_team(pool)
    for problem in task.train:
        team.invoke({"question": problem.question},
                    learner.config(episode=problem.id, target=problem.answer, question=problem.question))
    versions = learner.step()
    (after,) = test_gate.score([pool])
    for name, scores in (("before", before), ("after", after)):
        score = Score.of(name, [bool(s) for s in scores])
        print(f"team {name}: {score.accuracy:.2f} ± {score.stderr:.2f} on held-out problems (n={score.n})")
    for version in versions:
        print(f"{version.role}: {version.name} {version.status} ({version.gate['reason'] if version.gate else ''})")


if __name__ == "__main__":
    main()
