"""One run per folder: unique ids, refusal, overwrite, and resume after a kill -9."""

from __future__ import annotations

import io
import json
import os
import shutil
import textwrap
from collections import Counter

import pytest
from conftest import run_until_it_kills_itself
from chromadb.api.client import SharedSystemClient
from rich.console import Console

from moot.loops.improve import ImproveConfig, improve
from moot.nodes import LocalEngine, LocalModelPool
from moot.nodes.debate import DebateConfig
from moot.runs.folder import RunFolderInUse, claim_run_folder
from moot.runs.config import BackendConfig
from moot.stores import ExperienceLibrary
from moot.evaluation.tasks import SplitSizes


def test_a_used_folder_is_refused_unless_resumed_or_overwritten(tmp_path):
    first = claim_run_folder(tmp_path / "demo", {"seed": 1}, "new")
    with pytest.raises(RunFolderInUse, match="--resume .* --overwrite"):
        claim_run_folder(tmp_path / "demo", {"seed": 1}, "new")
    assert claim_run_folder(tmp_path / "demo", {"seed": 1}, "resume")["run_id"] == first["run_id"]
    with pytest.raises(RunFolderInUse, match="seed: 1 -> 2"):
        claim_run_folder(tmp_path / "demo", {"seed": 2}, "resume")
    # a setting added to moot after the run was made does not block its resumption
    assert claim_run_folder(tmp_path / "demo", {"seed": 1, "candidates": {"count": 1}}, "resume")["run_id"] == first["run_id"]
    forgotten = []
    (tmp_path / "demo" / "leftover").write_text("x")
    second = claim_run_folder(tmp_path / "demo", {"seed": 2}, "overwrite", forgotten.append)
    assert forgotten == [first["run_id"]] and second["run_id"] != first["run_id"]
    assert not (tmp_path / "demo" / "leftover").exists()
    # Two runs with the same folder name elsewhere get different ids: their records never mix.
    assert claim_run_folder(tmp_path / "other" / "demo", {}, "new")["run_id"] != second["run_id"]
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        claim_run_folder(tmp_path / "empty", {}, "resume")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        claim_run_folder(tmp_path / "file", {}, "new")


def config(model_dir, run_dir) -> ImproveConfig:
    return ImproveConfig(
        protocol="debate", level="sum1", sizes=SplitSizes(train=12, validation=2, test=3), iterations=1, gate_problems=0,
        debate=DebateConfig(n_agents=2, n_rounds=1, temperature=0.0, max_tokens=3), run_dir=run_dir,
        model_dir=model_dir, concurrency=2, flush_every_s=0.0, backend=BackendConfig(dtype="float32"),
    )


# The child plays the same run and kills itself with SIGKILL in the middle of the training play.
CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_run_folder import config
    from moot.loops.improve import improve
    from moot.nodes import LocalEngine, LocalModelPool

    run_dir = Path({run_dir!r})

    class KilledMidPlay(LocalEngine):
        calls = 0

        def submit(self, *args, **kwargs):
            if (run_dir / "progress.json").exists():  # the baseline is done: we are playing
                KilledMidPlay.calls += 1
                if KilledMidPlay.calls == 9:
                    os.kill(os.getpid(), signal.SIGKILL)
            return super().submit(*args, **kwargs)

    improve(config({model_dir!r}, run_dir), LocalModelPool(KilledMidPlay.from_pretrained({model_dir!r}, dtype="float32")))
""")


def test_kill_during_play_then_resume_loses_and_duplicates_nothing(tiny_model_dir, tmp_path):
    run_dir = tmp_path / "run"
    run_until_it_kills_itself(CHILD.format(tests=os.path.dirname(__file__), run_dir=str(run_dir),
                                           model_dir=str(tiny_model_dir)))
    progress = json.loads((run_dir / "progress.json").read_text())
    assert list(progress["phases"]) == ["baseline"]
    run_id = json.loads((run_dir / "config.json").read_text())["run_id"]
    before = {r.id: r for r in ExperienceLibrary(run_dir / "library").find(run=run_id, split="train")}
    assert 0 < len(before) < 12 * 2, "the kill should land mid-play, after some episodes were written"

    out = io.StringIO()
    report = improve(config(tiny_model_dir, run_dir), LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")),
                     Console(file=out, width=200), mode="resume")
    assert "baseline: finished before this resume; not redone" in out.getvalue()
    train = ExperienceLibrary(run_dir / "library").find(run=run_id, split="train")
    per_episode = Counter(r["episode"] for r in train)
    assert len(per_episode) == 12 and set(per_episode.values()) == {2}  # 12 problems x 2 agents: 0 lost
    assert len({r.id for r in train}) == len(train) == 24  # 0 duplicated
    assert all(train_id in {r.id for r in train} for train_id in before)  # what was written before stays
    assert [s.name for s in report.scores][:2] == ["single agent (base)", "debate (base)"]
    progress = json.loads((run_dir / "progress.json").read_text())
    assert list(progress["phases"]) == ["baseline", "play_it1", "train_it1", "eval_it1"]
    assert progress["library_records"] == ExperienceLibrary(run_dir / "library").count(run=run_id) > 24
    with pytest.raises(RunFolderInUse, match="--resume"):
        improve(config(tiny_model_dir, run_dir), LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")))

    # The library vanishes: a resume stops with both counts instead of going on from nothing.
    shutil.rmtree(run_dir / "library")
    SharedSystemClient.clear_system_cache()  # as the next process would, read the folder again
    with pytest.raises(ValueError, match=rf"holds 0 of this run's records, but {progress['library_records']} were there"):
        improve(config(tiny_model_dir, run_dir), LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")),
                mode="resume")
