"""A team of your own: a planner -> solver -> checker LangGraph graph built from moot's nodes, improved by moot.

The roles are data (``ChainStep``), the graph is yours (any LangGraph wiring; here a
straight line with a parsed answer at the end), and moot's improve loop improves it, as
it does its own protocols: it scores the team on held-out problems, plays the training
problems with every call logged, keeps each role's calls in episodes the team got right,
trains one LoRA adapter per role, gates the new adapters on validation problems, swaps
them in, and scores the team again. The same from the command line::

    moot improve examples/planner_solver_checker.py:build_team --task arithmetic

Run it (about 15 minutes on 2 cores; for a smoke run,
``--train 12 --test 6 --max-steps 2 --max-examples 4``)::

    python examples/planner_solver_checker.py
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from moot import ImproveConfig, ImproveRun
from moot.evaluation.tasks import SplitSizes
from moot.graphs import ChainState
from moot.nodes import ChainConfig, ChainStep, ModelPool
from moot.nodes.answers import parse_number, safe_parse
from moot.nodes.chain import make_step_node
from moot.protocols.user_graph_config import GraphConfig
from moot.runs.config import RunConfig
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Improve a planner -> solver -> checker team of your own.")
    parser.add_argument("--train", type=int, default=96)
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--validation", type=int, default=20, help="problems the gate plays")
    parser.add_argument("--level", default="sum2", help="arithmetic level (sum1 is the easiest)")
    parser.add_argument("--max-steps", type=int, default=-1)
    parser.add_argument("--max-examples", type=int, default=RunConfig.max_examples_per_role,
                        help="most kept calls each role trains on per iteration")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/planner-solver-checker"))
    args = parser.parse_args()
    config = ImproveConfig(protocol="graph", graph=GraphConfig(f"{__file__}:build_team"), level=args.level,
                           sizes=SplitSizes(train=args.train, validation=args.validation, test=args.test),
                           gate_problems=args.validation, lora=LoraTrainingConfig(max_steps=args.max_steps),
                           max_examples_per_role=args.max_examples, run_dir=args.run_dir)
    report = ImproveRun(config, mode="overwrite").run()
    for score in report.scores:
        if score.name.startswith("graph"):
            print(f"team {'before' if score.iteration == 0 else 'after'}: {score.accuracy:.2f} ± {score.stderr:.2f} "
                  f"on held-out problems (n={score.n})")
    gate = report.gates.get("it1")
    print(f"gate: {'promoted' if gate and gate['promote'] else 'not promoted'} ({gate['reason'] if gate else 'no gate'})")


if __name__ == "__main__":
    main()
