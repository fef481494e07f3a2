"""The training worker: one process reused across jobs, started as a module, dying with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from moot.training import LoraTrainingConfig, NotEnoughData, TrainingExample
from moot.training.jobs import TrainingWorker

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = LoraTrainingConfig(rank=4, alpha=8, epochs=1, max_steps=2, batch_size=4)


def examples(n: int = 8) -> list[TrainingExample]:
    return [TrainingExample(f"r{i}", "solver", QUESTION, "4") for i in range(n)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_one_worker_trains_job_after_job_and_reports_their_errors(tiny_model_dir, tmp_path):
    steps = []
    with TrainingWorker(niceness=7) as worker:
        first = worker.train(tiny_model_dir, examples(), tmp_path / "a", role="solver", config=FAST,
                             on_step=lambda step, total, loss: steps.append((step, total)))
        pid = worker._process.pid  # type: ignore[union-attr]
        # Below the parent in priority: serving in the parent gets a busy core first.
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
        with pytest.raises(NotEnoughData):
            worker.train(tiny_model_dir, [], tmp_path / "b", role="solver", config=FAST)
        second = worker.train(tiny_model_dir, examples(), tmp_path / "c", role="solver", config=FAST,
                              init_adapter=tmp_path / "a")
        assert worker._process.pid == pid  # type: ignore[union-attr]  # the same process: imports paid once
    assert not alive(pid)
    assert first.record_ids == second.record_ids == [f"r{i}" for i in range(8)] and steps[-1] == (2, 2)
    assert (tmp_path / "c" / "adapter_model.safetensors").is_file() and not (tmp_path / "b").exists()


def test_a_cancelled_job_stops_the_worker_and_the_next_job_starts_a_new_one(tiny_model_dir, tmp_path):
    import threading

    cancel = threading.Event()
    cancel.set()
    worker = TrainingWorker()
    with pytest.raises(Exception) as cancelled:
        worker.train(tiny_model_dir, examples(), tmp_path / "a", role="solver", config=FAST, cancel=cancel)
    assert type(cancelled.value).__name__ == "TrainingCancelled" and not worker.running
    assert not (tmp_path / "a").exists()
    worker.train(tiny_model_dir, examples(), tmp_path / "b", role="solver", config=FAST)
    worker.close()
    assert (tmp_path / "b" / "adapter_model.safetensors").is_file()


def test_the_worker_never_runs_the_callers_script_again(tiny_model_dir, tmp_path):
    """A script without a ``__main__`` guard runs once: the worker does not re-import it."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        from moot.training import LoraTrainingConfig, TrainingExample
        from moot.training.jobs import TrainingWorker
        with open({str(marker)!r}, "a") as f:
            f.write("ran\\n")
        q = [{{"role": "user", "content": "2 + 2?"}}]
        TrainingWorker().train({str(tiny_model_dir)!r}, [TrainingExample(f"r{{i}}", "s", q, "4") for i in range(4)],
                               {str(tmp_path / "out")!r}, role="s", config=LoraTrainingConfig(max_steps=1, batch_size=4))
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=300)
    assert marker.read_text() == "ran\n" and (tmp_path / "out" / "adapter_config.json").is_file()


def test_a_killed_parent_takes_its_training_worker_with_it(tiny_model_dir, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from moot.training import LoraTrainingConfig, TrainingExample
        from moot.training.jobs import TrainingWorker
        worker = TrainingWorker()
        q = [{{"role": "user", "content": "2 + 2?"}}]
        def report(step, total, loss):
            print(worker._process.pid, flush=True)
        worker.train({str(tiny_model_dir)!r}, [TrainingExample(f"r{{i}}", "s", q, "4") for i in range(64)],
                     {str(tmp_path / "out")!r}, role="s", on_step=report,
                     config=LoraTrainingConfig(max_steps=100000, epochs=1000, batch_size=1))
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker_pid = int(parent.stdout.readline())  # type: ignore[union-attr]  # training is under way
    assert alive(worker_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while alive(worker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker_pid)
    assert not (tmp_path / "out").exists()  # nothing half-written behind the dead parent
