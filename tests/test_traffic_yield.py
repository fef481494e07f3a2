"""The training process yields the CPU to serving: stopped while requests are in flight, never starved."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psutil
import pytest

from moot.training import TrainingExample
from moot.training.distiller import Distiller
from moot.training.distiller_config import DistillerConfig
from moot.training.lora_training import LoraTrainingConfig
from moot.training.traffic_yield import TrafficYield


@pytest.fixture
def child():
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield process
    process.kill()
    process.wait()


def stopped(pid: int) -> bool:
    return psutil.Process(pid).status() == psutil.STATUS_STOPPED


def test_the_process_is_stopped_while_serving_is_busy_and_resumed_when_idle(child):
    busy = threading.Event()
    busy.set()
    with TrafficYield(lambda: child.pid, busy.is_set, min_share=0.0, period_s=0.02) as yielding:
        yielding.wait_for_tick()
        yielding.wait_for_tick()
        assert stopped(child.pid)
        busy.clear()
        yielding.wait_for_tick()
        yielding.wait_for_tick()
        assert not stopped(child.pid)
        busy.set()
        yielding.wait_for_tick()
        yielding.wait_for_tick()
        assert stopped(child.pid)
    assert not stopped(child.pid)  # leaving the block resumes it, whatever serving is doing


def test_under_steady_traffic_training_still_gets_its_floor(child):
    with TrafficYield(lambda: child.pid, lambda: True, min_share=0.5, period_s=0.01, window_s=0.4) as yielding:
        for _ in range(80):
            yielding.wait_for_tick()
        ran = list(yielding._ran)
    # decided per tick from the ticks before it: the share never drops more than one tick below the floor
    assert len(ran) == 40 and 0.5 - 1 / 40 <= sum(ran) / len(ran) < 0.75


def test_a_process_that_ended_is_left_alone():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with TrafficYield(lambda: gone.pid, lambda: True, min_share=0.0, period_s=0.01) as yielding:
        yielding.wait_for_tick()
        assert not yielding.paused


def test_a_distillation_under_traffic_pauses_and_still_finishes(tiny_model_dir, tmp_path):
    config = DistillerConfig(lora=LoraTrainingConfig(rank=4, alpha=8, max_steps=4, batch_size=2, dtype="float32"),
                             min_train_share=0.5, train_niceness=0)
    distiller = Distiller(config, tmp_path / "adapters", tiny_model_dir, busy=lambda: True)
    seen_stopped = threading.Event()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            pid = distiller.worker.pid
            if pid is not None and stopped(pid):
                seen_stopped.set()
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        examples = [TrainingExample(f"r{i}", "solver", [{"role": "user", "content": "1 + 1?"}], "2") for i in range(4)]
        (folder,) = distiller.train("solver", examples, 1)
    finally:
        done.set()
        watcher.join()
    assert (folder / "adapter_model.safetensors").is_file()  # the floor let it finish
    assert seen_stopped.is_set()  # and it was stopped while serving was busy
    assert not stopped(distiller.worker.pid)  # left running (idle, waiting for the next job)
