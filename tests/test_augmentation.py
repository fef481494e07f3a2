"""SiriuS augmentation: on fake models only re-runs that end right are added back; `--repairs 0` turns it off."""

from __future__ import annotations

import json

from fakes import scripted_pool

from moot.nodes.chain import ChainConfig, ChainStep
from moot.nodes.critique import CritiqueConfig
from moot.protocols import CHAIN, CRITIQUE
from moot.stores import ExperienceLibrary, ExperienceLogger
from moot.training import chain_training_sets
from moot.protocols.augmentation import AugmentationConfig, augment_failures
from moot.nodes.serving.adapter_validation import base_fingerprint
from moot.nodes.serving.embedded_model import embedded_model_dir

CONFIG = ChainConfig(steps=(
    ChainStep("solver", "You solve.", "Problem: {question}"),
    ChainStep("reporter", "You report.", "Problem: {question}\n\n{previous}\n\nFinal answer?"),
))
CRITIQUE_CONFIG = CritiqueConfig()


def play_and_repair(tmp_path, solver, reporter, problems=1, config=AugmentationConfig()):
    library = ExperienceLibrary(tmp_path / "lib")
    pool = scripted_pool(solver=solver, reporter=reporter, external_critic=["check the sum"], rephraser=["3 + 4 = 7"])
    graph = CHAIN.build(pool, CONFIG)
    with ExperienceLogger(library, annotate=CHAIN.annotate) as logger:
        for i in range(problems):
            graph.invoke({"question": "What is 3 + 4?"}, {"callbacks": [logger], "metadata": {
                "run": "r", "iteration": 1, "split": "train", "episode": f"e{i}", "target": "7", "question": "What is 3 + 4?"}})
        logger.flush()
        failed = CHAIN.failed_trajectories(library.find(run="r"), CONFIG)
        stats = augment_failures(failed, pool, CHAIN.rerun(pool, CONFIG), library, [logger], config)
    return library, failed, stats


def test_a_failed_episode_is_repaired_when_the_rerun_ends_right(tmp_path):
    library, failed, stats = play_and_repair(tmp_path, solver=["3 + 4 = 8", "3 + 4 = 7"], reporter=["8", "7"])
    assert [t.episode for t in failed] == ["e0"] and [s.role for s in failed[0].steps] == ["solver", "reporter"]
    assert stats.as_dict() == {"solver": {"attempted": 1, "repaired": 1, "ratio": 1.0}}
    augmented = library.find(augmented=True, final_correct=True)
    assert {r["role"] for r in augmented} == {"solver", "reporter"}
    assert all(r["source_episode"] == "e0" for r in augmented)
    solver = next(r for r in augmented if r["role"] == "solver")
    # Trained as if solved directly: the original prompt, the rephrased text, no feedback in sight.
    assert solver.messages == failed[0].steps[0].messages and solver.text == "3 + 4 = 7"
    sets = chain_training_sets(library.find(run="r"))
    assert [e.completion for e in sets["solver"]] == ["3 + 4 = 7"]
    (repair,) = library.find(node="repair")
    assert repair["status"] == "repaired" and repair.text == "check the sum"


def test_a_rerun_that_is_still_wrong_adds_nothing_trainable(tmp_path):
    library, _, stats = play_and_repair(tmp_path, solver=["3 + 4 = 8", "3 + 4 = 9"], reporter=["8", "9"])
    assert stats.as_dict()["solver"] == {"attempted": 1, "repaired": 0, "ratio": 0.0}
    assert chain_training_sets(library.find(run="r")) == {}
    (repair,) = library.find(node="repair")
    assert repair["status"] == "still wrong" and repair["final_answer"] == "9"


def test_caps_limit_trajectories_and_roles(tmp_path):
    # Two failed episodes, but only one may be tried; within it two roles may be tried.
    library, failed, stats = play_and_repair(
        tmp_path, solver=["3 + 4 = 8", "3 + 4 = 8", "still 8"], reporter=["8", "8", "8", "8"], problems=2,
        config=AugmentationConfig(max_trajectories=1, roles_per_trajectory=2),
    )
    assert len(failed) == 2
    assert dict(stats.attempted) == {"solver": 1, "reporter": 1}
    assert len(library.find(node="repair")) == 2


def test_successful_episodes_are_not_repaired(tmp_path):
    _, failed, stats = play_and_repair(tmp_path, solver=["3 + 4 = 7"], reporter=["7"])
    assert failed == [] and stats.as_dict() == {}


def test_critique_repairs_the_actor_and_reruns_the_judge(tmp_path):
    library = ExperienceLibrary(tmp_path / "lib")
    pool = scripted_pool(actor=["8", "7"], judge=["True", "True"], critic=["unused"],
                         external_critic=["recount"], rephraser=["7"])
    graph = CRITIQUE.build(pool, CRITIQUE_CONFIG)
    with ExperienceLogger(library, annotate=CRITIQUE.annotate) as logger:
        graph.invoke({"question": "3+4?"}, {"callbacks": [logger], "metadata": {
            "run": "r", "iteration": 1, "split": "train", "episode": "c", "target": "7", "question": "3+4?"}})
        logger.flush()
        failed = CRITIQUE.failed_trajectories(library.find(run="r"), CRITIQUE_CONFIG)
        stats = augment_failures(failed, pool, CRITIQUE.rerun(pool, CRITIQUE_CONFIG), library, [logger])
    assert [s.role for s in failed[0].steps] == ["actor"]
    assert stats.as_dict()["actor"]["repaired"] == 1
    judged = library.find(augmented=True, node="judge")
    assert len(judged) == 1 and judged[0]["correct"] is True


def test_repairs_0_turns_augmentation_off_from_the_cli(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from moot.cli import app
    from moot.stores import ExperienceLibrary

    run_dir = tmp_path / "plain"
    result = CliRunner().invoke(app, ["improve", "chain", "--model", str(tiny_model_dir), "--dtype", "float32",
                                      "--task", "arithmetic", "--level", "sum1", "--train-size", "6",
                                      "--validation-size", "2", "--test-size", "3", "--max-steps", "1",
                                      "--max-examples", "4", "--max-tokens", "8", "--gate-problems", "0",
                                      "--repairs", "0", "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads((run_dir / "report.json").read_text())
    assert report["config"]["model_dir"] == str(tiny_model_dir)  # the run used the model it was given
    assert report["config"]["model_fingerprint"] == base_fingerprint(tiny_model_dir) != base_fingerprint(embedded_model_dir())
    assert report["augmentation"] == {} and not ExperienceLibrary(run_dir / "library").find(node="repair")
