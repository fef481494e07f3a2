"""The improve loop's gate: an iteration that scores worse on validation is not served, and the report says so."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_run_folder import config

from moot.selection.candidates import CandidateConfig
from moot.promotion.gate import GateConfig, TaskGate
from moot.loops.improve import ImproveRun
from moot.training import LoraTrainingConfig, TrainingExample

FAST = LoraTrainingConfig(rank=4, alpha=8, learning_rate=1e-2, epochs=1, max_steps=2, batch_size=2, dtype="float32")


def scripted_gate(before: list[float], after: list[float]):
    def score(self, views):
        assert len(views) == 2 and len(self.problems) == 2  # the validation split, capped by gate_problems
        return [before, after]

    return score


@pytest.mark.parametrize("promote", [False, True])
def test_an_iteration_is_served_only_if_the_gate_passes_it(promote, tiny_model_dir, tmp_path, monkeypatch):
    # the validation split has 2 problems here, all of them gated
    run = ImproveRun(replace(config(str(tiny_model_dir), tmp_path / "run"), gate_problems=2, gate=GateConfig(min_items=2)))
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


def test_candidates_are_searched_on_validation_and_the_best_is_kept(tiny_model_dir, tmp_path, monkeypatch):
    run = ImproveRun(config(str(tiny_model_dir), tmp_path / "run"))
    run.config.lora = FAST
    run.config.candidates = CandidateConfig(count=3, learning_rate_factors=(1.0, 0.5, 2.0), block=1)
    examples = [TrainingExample(f"r{i}", "debater-0", [{"role": "user", "content": "1 + 1?"}], "2") for i in range(2)]
    played: list[str] = []

    def scripted(self, views):  # the candidate loaded last (lr x 2) answers right, the others never
        (view,) = views
        version = view.registry.current("debater-0")
        played.append(version)
        newest = max(run.pool.engine.adapters, key=lambda name: int(name.rsplit("_v", 1)[1]))
        return [[float(version == newest)] * len(self.problems)]

    monkeypatch.setattr(TaskGate, "score", scripted)
    entries = run.train_candidates({"debater-0": examples}, ["debater-0"], 1, None, publish=True)
    search = run.report.candidates["it1"]
    assert search["best"].startswith("candidate-2") and search["episodes"] == len(played) <= 3 * 2
    kept = run.adapters_dir(1) / "debater-0"
    assert (kept / "adapter_model.safetensors").read_bytes() == (
        run.adapters_dir(1) / "candidate-2" / "debater-0" / "adapter_model.safetensors").read_bytes()
    # only the kept candidate is served; the others were unloaded after the search
    assert run.pool.registry.current("debater-0") == entries[0]["version"]
    assert list(run.pool.engine.adapters) == [entries[0]["version"]]
    assert run.trained(1) == {"debater-0": kept}


@pytest.mark.parametrize("n", [GateConfig().min_items, 8])
def test_a_poisoned_candidate_is_never_promoted_at_small_gates(n):
    """An adapter that always answers wrong (scores 0 everywhere) against every possible current version.

    Before small gates had to see the candidate ahead, it passed whenever the current version
    also missed every item, or trailed within the wide margin of a small n.
    """
    import itertools

    from moot.promotion.gate import gate_decision

    promoted = [current for current in itertools.product((0.0, 1.0), repeat=n)
                if gate_decision(list(current), [0.0] * n).promote]
    assert promoted == []
    assert gate_decision([0.0] * n, [1.0] + [0.0] * (n - 1)).promote  # one item ahead passes


def test_a_gate_larger_than_its_validation_split_is_refused():
    from moot.loops.improve_config import ImproveConfig
    from moot.evaluation.tasks import SplitSizes

    with pytest.raises(ValueError, match="validation split has 5"):
        ImproveConfig(sizes=SplitSizes(validation=5), gate_problems=50)
    assert ImproveConfig(sizes=SplitSizes(validation=5), gate_problems=5).gate_problems == 5
