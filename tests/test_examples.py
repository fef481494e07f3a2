"""The two example apps run end to end on the embedded model, on a short budget."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real_model
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def run(capsys, monkeypatch):
    """Run an example as ``python examples/SCRIPT ARGS...`` would, in this process (whose imports
    it reuses), and return what it printed."""

    def run_script(script: str, *args: str) -> str:
        monkeypatch.setattr(sys, "argv", [str(EXAMPLES / script), *args])
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
        return capsys.readouterr().out

    return run_script


def test_the_support_bot_logs_takes_feedback_and_distils(run, tmp_path):
    out = run("support_bot.py", "--chats", "12", "--max-steps", "1", "--run-dir", str(tmp_path))
    assert "thumbs-up rate" in out
    state = json.loads((tmp_path / "learner.json").read_text())
    assert state["versions"], "no distillation ran"  # 12 chats: 9 to train on (every 8 kept distils), 3 for the gate
    assert all(v["gate"] is not None for v in state["versions"].values())


def test_a_user_composed_team_is_improved_by_moots_improve_loop(run, tmp_path):
    # One-digit sums: the base team gets about half right, so some episodes are rewarded.
    out = run("planner_solver_checker.py", "--level", "sum1", "--train", "6", "--validation", "4", "--test", "2",
              "--max-steps", "1", "--max-examples", "2", "--run-dir", str(tmp_path))
    assert "team before:" in out and "team after:" in out and "(n=2)" in out
    report = json.loads((tmp_path / "report.json").read_text())
    trained = {e["role"] for e in report["training"] if e.get("train_loss") is not None}
    # Each of the team's roles with a rewarded call was trained under its own name, and the gate judged them.
    assert report["protocol"] == "graph" and trained and trained <= {"planner", "solver", "checker"}
    assert "it1" in report["gates"]
