"""The improve loop's gate: an iteration that scores worse on validation is not served, and the report says so."""

from __future__ import annotations

import pytest
from test_run_folder import config

from moot.gate import GateConfig, TaskGate
from moot.improve import ImproveRun
from moot.training import LoraTrainingConfig, TrainingExample

FAST = LoraTrainingConfig(rank=4, alpha=8, learning_rate=1e-2, epochs=1, max_steps=2, batch_size=2, dtype="float32")


def scripted_gate(before: list[float], after: list[float]):
    def score(self, views):
        assert len(views) == 2 and len(self.problems) == 2  # the validation split, capped by gate_problems
        return [before, after]

    return score


@pytest.mark.parametrize("promote", [False, True])
def test_an_iteration_is_served_only_if_the_gate_passes_it(promote, tiny_model_dir, tmp_path, monkeypatch):
    run = ImproveRun(config(str(tiny_model_dir), tmp_path / "run"))
    run.config.gate = GateConfig(min_items=2)  # the validation split has 2 problems here
    examples = [TrainingExample(f"r{i}", "debater-0", [{"role": "user", "content": "1 + 1?"}], "2") for i in range(2)]
    entries = run.train({"debater-0": examples}, ["debater-0"], 1, FAST, publish=False)
    scores = ([0.0, 0.0], [1.0, 1.0]) if promote else ([1.0, 1.0], [0.0, 0.0])
    monkeypatch.setattr(TaskGate, "score", scripted_gate(*scores))
    run.gate_and_publish(1, entries)
    gate = run.report.gates["it1"]
    assert gate["promote"] is promote and gate["n"] == 2
    serving = run.pool.registry.current("debater-0")
    if promote:
        assert serving == entries[0]["version"] and serving in run.pool.engine.adapters
    else:
        assert serving is None and "version" not in entries[0] and not run.pool.engine.adapters
        assert "NOT promoted" in run.report.table().caption
