"""End to end on the real embedded SmolLM2: negotiation self-play and a live session (the improve loop is in
``test_end_to_end_real_model.py``; the two files run side by side under ``pytest -n``).

Short (a few games, a few seconds of traffic, two training steps), but nothing is faked.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from moot.stores import ExperienceLibrary
from moot.training import AdapterManifest
from test_end_to_end_real_model import run_cli

pytestmark = pytest.mark.real_model


def test_a_short_selfplay_game_on_the_embedded_model(tmp_path):
    run_dir = tmp_path / "selfplay"
    run_cli("selfplay", "sell-buy", "--games", "1", "--eval-games", "1", "--iterations", "1", "--max-steps", "1",
            "--max-examples", "2", "--warm-start-games", "2", "--max-tokens", "16", "--max-turns", "2", "--keep", "utility",
            "--utility-threshold", "-1000",
            # Under the action grammar every move is legal, so both seats have turns to learn from
            # (unconstrained, two warm-start games and one step leave the model without one valid move).
            "--constrain-actions", "--run-dir", str(run_dir))
    report = json.loads((run_dir / "selfplay_report.json").read_text())
    pairings = {(r["pairing"], r["seat"]) for r in report["results"]}
    assert pairings == {("base vs base", "seller"), ("base vs base", "buyer"),
                        ("trained seller vs frozen base", "seller"), ("trained buyer vs frozen base", "buyer")}
    assert all(r["games"] == 1 and r["invalid_rate"] == 0.0 for r in report["results"])  # the grammar holds
    assert report["config"]["max_turns"] == 2
    turns = ExperienceLibrary(run_dir / "library").find(split="train")
    assert turns and all(r["node"] == "player" and r["valid"] for r in turns)
    per_game = Counter(r["episode"] for r in turns)
    assert len(per_game) == 1 and max(per_game.values()) <= 2  # --max-turns 2: one turn each
    warm_start, *seats = report["training"]
    assert warm_start["role"] == "warm-start" and warm_start["examples"] == 2 and warm_start["train_loss"] > 0
    trained_roles = {t["role"] for t in seats if t.get("train_loss") is not None}
    valid_roles = {r["role"] for r in turns if r["valid"]}
    assert trained_roles == valid_roles == {"seller", "buyer"}  # every side that made a valid move learned from it
    for role in trained_roles:  # ... going on from the warm-start adapter
        assert AdapterManifest.load(run_dir / "adapters" / "it1" / role).parent == str(run_dir / "adapters" / "it0" / "warm-start")


def test_a_short_live_session_distils_gates_and_swaps_without_failing_a_request(tmp_path):
    run_dir = tmp_path / "live"
    run_cli("live", "debate", "--agents", "2", "--rounds", "1", "--level", "sum1", "--minutes", "0.3", "--traffic-concurrency", "4", "--every", "2",
            "--gate-problems", "4", "--train-size", "40", "--validation-size", "8", "--test-size", "4",
            "--finish-distillation", "--train-niceness", "0", "--max-steps", "1", "--max-examples", "2", "--epochs", "1", "--run-dir", str(run_dir))
    report = json.loads((run_dir / "live.json").read_text())
    assert (report["config"]["debate"]["n_agents"], report["config"]["debate"]["n_rounds"]) == (2, 1)
    answers = ExperienceLibrary(run_dir / "library").find(split="test")
    assert {r["agent"] for r in answers} == {0, 1} and {r["round"] for r in answers} == {0}
    accuracy = [s["name"] for s in report["scores"] if s["name"].startswith("debate")]
    assert accuracy == ["debate (first version)", "debate (final version)"]
    assert report["traffic"] and not any(t["failed"] for t in report["traffic"])
    kinds = [e["event"] for e in report["events"]]
    assert kinds.count("distilling") >= 1 and kinds.count("promoted") + kinds.count("refused") == kinds.count("distilling")
    learner = json.loads((run_dir / "learner.json").read_text())
    for version in learner["versions"].values():
        assert version["gate"]["n"] == 4 and (run_dir / "adapters" / "debater").is_dir()
    served = {v for t in report["traffic"] for v in t["versions"].values() if v}
    promoted = {e["version"] for e in report["events"] if e["event"] == "promoted"}
    assert served <= promoted  # no refused candidate ever served traffic
    assert (run_dir / "live.png").stat().st_size > 1000
