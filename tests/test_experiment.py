"""Experiments as files: loading, running (skip, resume, restart), aggregation over seeds, diversity metrics."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from moot.loops import experiment as experiment_module
from moot.evaluation.diversity import disagreements, pairwise_distances
from moot.loops.experiment import Experiment, aggregate, report_experiment, run_experiment

# The settings of a tiny experiment on the tiny model (a format string: {model_dir}).
TINY_SETTINGS = """
[settings]
level = "sum1"
iterations = 1
sizes = {{ train = 4, validation = 2, test = 3 }}
gate_problems = 0
model_dir = "{model_dir}"
concurrency = 2
backend = {{ dtype = "float32" }}
debate = {{ n_agents = 2, n_rounds = 1, temperature = 0.0, max_tokens = 3 }}
"""
FILE = 'name = "tiny"\nseeds = [0, 1]' + TINY_SETTINGS + """[[arms]]
name = "Base only"
iterations = 0
[[arms]]
name = "Debate, trained"
"""


def write(tmp_path: Path, model_dir: str = "unused") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(FILE.format(model_dir=model_dir))
    return path


def test_an_experiment_file_is_checked_whole_before_anything_runs(tmp_path):
    experiment = Experiment.load(write(tmp_path), tmp_path / "runs")
    assert [a.name for a in experiment.arms] == ["Base only", "Debate, trained"] and experiment.seeds == (0, 1)
    config = experiment.config(experiment.arms[0], 1)
    assert config.iterations == 0 and config.seed == 1 and config.debate.n_agents == 2
    assert config.run_dir == tmp_path / "runs" / "tiny" / "base-only" / "seed1"
    bad = tmp_path / "bad.toml"
    bad.write_text(FILE.format(model_dir="x").replace("concurrency = 2", "concurency = 2"))
    with pytest.raises(ValueError, match="no setting 'concurency'"):
        Experiment.load(bad)


class FakeRun:
    """Stands in for ImproveRun: records how each (arm, seed) was started, writes a report."""

    calls: list[tuple[str, str]] = []

    def __init__(self, config, pool=None, console=None, mode="new"):
        if mode == "resume" and json.loads((config.run_dir / "config.json").read_text()).get("stale"):
            raise experiment_module.RunFolderInUse("--resume: the settings differ")
        FakeRun.calls.append((config.run_dir.parent.name + "/" + config.run_dir.name, mode))
        self.config = config

    def run(self):
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        score = {"name": "debate (base)", "accuracy": 0.5, "n": 3, "stderr": 0.3, "iteration": 0}
        (self.config.run_dir / "report.json").write_text(json.dumps(
            {"protocol": "debate", "scores": [score], "config": {"iterations": 0}, "timings_s": {"total": 1.0}}))


def test_finished_runs_are_skipped_interrupted_ones_resume_and_stale_ones_restart(tmp_path, monkeypatch):
    import moot.loops.improve

    monkeypatch.setattr(moot.loops.improve, "ImproveRun", FakeRun)
    experiment = Experiment.load(write(tmp_path), tmp_path / "runs")
    base, trained = experiment.arms
    FakeRun(experiment.config(base, 0)).run()  # finished before
    interrupted = experiment.run_dir(trained, 0)
    interrupted.mkdir(parents=True)
    (interrupted / "config.json").write_text("{}")
    stale = experiment.run_dir(trained, 1)
    stale.mkdir(parents=True)
    (stale / "config.json").write_text(json.dumps({"stale": True}))
    FakeRun.calls = []
    console = Console(record=True, width=200, file=io.StringIO())
    run_experiment(experiment, console=console)
    # seed by seed: both arms of seed 0 come before seed 1
    assert FakeRun.calls == [("debate-trained/seed0", "resume"), ("base-only/seed1", "new"),
                             ("debate-trained/seed1", "overwrite")]
    shown = console.export_text()
    # the progress view counts only the runs left to do, so its estimate of the time left is theirs
    assert "1 of 4 runs finished before; skipped" in shown and "3/3" in shown and "4/4" not in shown, shown
    FakeRun.calls = []
    run_experiment(experiment)
    assert FakeRun.calls == []  # everything finished: nothing runs again


def report(accuracy: dict[int, float], stderr: float, disagreement: float | None = None) -> dict:
    scores = []
    for iteration, value in accuracy.items():
        suffix = "base" if iteration == 0 else f"iteration {iteration}"
        scores.append({"name": f"debate ({suffix})", "accuracy": value, "n": 100, "stderr": stderr, "iteration": iteration})
        scores.append({"name": f"single agent ({suffix})", "accuracy": value + 0.1, "n": 100, "stderr": 0.0,
                       "iteration": iteration})
        if disagreement is not None:
            scores.append({"name": f"disagreement ({suffix})", "accuracy": disagreement, "n": 100, "stderr": 0.0,
                           "iteration": iteration})
    return {"protocol": "debate", "scores": scores, "config": {"iterations": max(accuracy)}, "timings_s": {"total": 60.0}}


def test_aggregation_over_seeds_matches_a_hand_computation(tmp_path):
    experiment = Experiment.load(write(tmp_path), tmp_path / "runs")
    _, trained = experiment.arms
    for seed, (base, after, disagreement) in {0: (0.2, 0.5, 0.4), 1: (0.1, 0.6, 0.2)}.items():
        folder = experiment.run_dir(trained, seed)
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(report({0: base, 1: after}, 0.04, disagreement)))
    rows = aggregate(experiment)
    assert list(rows) == ["Debate, trained"]  # the arm with no finished run is left out
    base, after = rows["Debate, trained"]["curve"]
    # mean of (0.5, 0.6) = 0.55; sample sd = 0.0707; / sqrt(2) = 0.05
    assert after["accuracy"] == pytest.approx(0.55) and after["stderr_over_seeds"] == pytest.approx(0.05)
    assert base["accuracy"] == pytest.approx(0.15) and base["stderr_per_run"] == pytest.approx(0.04)
    assert after["disagreement"] == pytest.approx(0.3) and after["seeds"] == 2
    assert after["single agent"] == pytest.approx(0.65)  # one agent's greedy score, mean of (0.6, 0.7)
    out = report_experiment(experiment, tmp_path / "out")
    assert (out / "accuracy.png").stat().st_size > 1000 and (out / "diversity.png").is_file()
    copied = out / "runs" / "debate-trained"
    assert sorted(p.name for p in copied.iterdir()) == ["seed0", "seed1"] and (copied / "seed1" / "report.json").is_file()


def test_the_report_command_writes_an_unwrapped_table_without_loading_a_model_stack(tmp_path):
    experiment = Experiment.load(write(tmp_path), tmp_path / "runs")
    folder = experiment.run_dir(experiment.arms[1], 0)
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report({0: 0.2, 1: 0.5}, 0.04, 0.4)))
    # What the command imported, printed as it exits: a report needs neither torch nor transformers.
    cli = ("import atexit, sys; atexit.register(lambda: print('imported:', sorted({'torch', 'transformers'} & "
           "set(sys.modules)))); from moot.cli import app; app()")
    command = [sys.executable, "-c", cli, "experiment", "report", str(tmp_path / "tiny.toml"),
               "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    log = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # a pipe, as under nohup
    assert any("Debate, trained" in line and "0.500" in line and "0.60" in line for line in log.splitlines()), log
    assert log.splitlines()[-1] == "imported: []"


def test_diversity_metrics_match_hand_computed_values():
    assert disagreements([["1", "1"], ["1", "2"], ["3", "3"], [None, "3"]]) == [0.0, 1.0, 0.0, 1.0]
    vectors = {"x": [1.0, 0.0], "y": [0.0, 1.0], "z": [1.0, 1.0]}
    # question 1: pairs (x,y)=1, (x,z)=1-1/sqrt2, (y,z)=1-1/sqrt2 -> mean; question 2: (x,x)=0
    expected_q1 = (1.0 + 2 * (1 - 1 / math.sqrt(2))) / 3
    got = pairwise_distances([["x", "y", "z"], ["x", "x"]], lambda texts: [vectors[t] for t in texts])
    assert got == pytest.approx([expected_q1, 0.0])


def test_a_debates_diversity_scores_carry_their_standard_error_over_questions():
    from moot.protocols.debate import DebateProtocol

    def state(*answers):  # two rounds; only the last one counts
        turns = [{"round": r, "agent": a, "answer": x, "text": f"The answer is {x}."}
                 for r in (0, 1) for a, x in enumerate(("0", "0") if r == 0 else answers)]
        return {"turns": turns}

    states = [state("7", "7"), state("7", "8"), state("5", "6"), state("4", "4"), None]
    disagreement, distance = DebateProtocol().extra_scores("test", states, [], iteration=2)
    # per question 0, 1, 1, 0: mean 0.5, sample s.d. sqrt(1/3), s.e. sqrt(1/3)/2
    assert (disagreement.name, disagreement.n, disagreement.kind) == ("disagreement (iteration 2)", 4, "diversity")
    assert disagreement.accuracy == 0.5 and disagreement.stderr == pytest.approx(math.sqrt(1 / 3) / 2)
    assert distance.name == "embedding distance (iteration 2)" and distance.stderr > 0.0


def test_a_reports_plot_puts_diversity_on_its_own_axis(tmp_path, monkeypatch):
    from moot.evaluation.report import ImproveReport, RunReport, Score

    saved = []
    monkeypatch.setattr(RunReport, "_save_figure", staticmethod(lambda fig, path: saved.append(fig) or path))
    scores = [Score("debate (base)", 0.2, 10, 0.1), Score("disagreement (base)", 0.9, 10, 0.1, kind="diversity"),
              Score("debate (iteration 1)", 0.5, 10, 0.2, 1)]
    ImproveReport(str(tmp_path), "debate", "arith", "test", scores).plot(tmp_path / "report.png")
    accuracy_axis, diversity_axis = saved[0].axes
    assert [t.get_text() for t in accuracy_axis.get_xticklabels()] == ["debate (base)", "debate (iteration 1)"]
    assert [t.get_text() for t in diversity_axis.get_xticklabels()] == ["disagreement (base)"]


def test_a_tiny_experiment_runs_on_the_tiny_model_and_is_skipped_when_rerun(tiny_model_dir, tmp_path):
    experiment = Experiment.load(write(tmp_path, str(tiny_model_dir)).as_posix(), tmp_path / "runs")
    only_base = Experiment(experiment.name, experiment.arms[:1], (0,), experiment.settings, experiment.runs_dir)
    wall = run_experiment(only_base)
    assert list(wall) == ["base-only/seed0"] and only_base.finished(only_base.arms[0], 0)
    assert run_experiment(only_base) == {}
    (point,) = aggregate(only_base)["Base only"]["curve"]
    report = json.loads((only_base.run_dir(only_base.arms[0], 0) / "report.json").read_text())
    debate = next(s for s in report["scores"] if s["name"] == "debate (base)")
    # one seed: the curve's point is that run's own held-out score, and its binomial error
    assert point["n"] == 3 and point["accuracy"] == round(debate["accuracy"], 4) and point["seeds"] == 1
    assert point["stderr_per_run"] == round(debate["stderr"], 4) and "disagreement" in point
