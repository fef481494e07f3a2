"""End to end on the real embedded SmolLM2: debate -> library -> LoRA -> hot-swap -> evaluation.

Short (a few problems, two training steps), but nothing is faked.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from moot.cli import app
from moot.stores import ExperienceLibrary

pytestmark = pytest.mark.real_model


def test_improve_debate_runs_end_to_end_on_the_embedded_model(tmp_path):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "improve", "debate", "--task", "arithmetic", "--level", "sum1", "--iterations", "1",
        "--agents", "2", "--rounds", "2", "--temperature", "0", "--max-tokens", "8",
        "--train-size", "8", "--validation-size", "2", "--test-size", "4",
        "--max-steps", "1", "--max-examples", "2", "--gate-problems", "0", "--run-dir", str(run_dir),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "report.json").read_text())
    names = [s["name"] for s in report["scores"]]
    assert names == ["single agent (base)", "debate (base)", "disagreement (base)", "embedding distance (base)",
                     "debate (iteration 1)", "disagreement (iteration 1)", "embedding distance (iteration 1)",
                     "single agent (iteration 1)"]
    assert all(s["n"] == 4 for s in report["scores"])
    diversity = {s["name"]: s["accuracy"] for s in report["scores"] if s["name"].startswith(("disagreement", "embedding"))}
    assert all(0.0 <= value <= 2.0 for value in diversity.values())
    assert (run_dir / "report.png").stat().st_size > 1000

    published = {t["role"]: t["version"] for t in report["training"] if t.get("train_loss") is not None}
    assert published, f"no role had a successful trajectory: {report['training']}"
    for role, version in published.items():
        assert version == f"{role}_v1"
        assert (run_dir / "adapters" / "it1" / role / "adapter_model.safetensors").is_file()

    library = ExperienceLibrary(run_dir / "library")
    before = library.find(iteration=0, split="test", setting="debate (base)")
    after = library.find(iteration=1, split="test", setting="debate (iteration 1)")
    assert len(before) == len(after) == 4 * 2 * 2
    assert not any(r["adapter"] in published.values() for r in before)
    # The held-out answers after the iteration really came from the swapped-in adapters.
    assert {r["adapter"] for r in after if r["role"] in published} == set(published.values())
    train = library.find(iteration=1, split="train")
    assert len(train) == 8 * 2 * 2 and all(r["correct"] is not None for r in train)


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


SHORT = ("--task", "arithmetic", "--level", "sum1", "--temperature", "0", "--train-size", "4", "--validation-size", "2",
         "--gate-problems", "0", "--test-size", "2", "--max-steps", "1", "--max-examples", "2")


@pytest.mark.parametrize("protocol", ["chain", "critique"])
def test_chain_and_critique_improve_with_augmentation_on_the_embedded_model(protocol, tmp_path):
    run_dir = tmp_path / protocol
    run_cli("improve", protocol, *SHORT, "--repairs", "1", "--run-dir", str(run_dir))
    report = json.loads((run_dir / "report.json").read_text())
    names = [s["name"] for s in report["scores"]]
    assert f"{protocol} (base)" in names and f"{protocol} (iteration 1)" in names
    if protocol == "critique":
        assert "judge accuracy (base)" in names and "true-positive accuracy (iteration 1)" in names
    library = ExperienceLibrary(run_dir / "library")
    repairs = library.find(node="repair")
    attempted = sum(row["attempted"] for row in report["augmentation"]["it1"]["per_role"].values())
    assert len(repairs) == attempted <= 1
    assert all(r["status"] in ("repaired", "still wrong") and r["source_episode"] for r in repairs)
