"""Ray as the distributed engine, on a local cluster this test starts on loopback: a head with no
CPUs, so every task runs on a worker node of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import psutil
import pytest
from test_experiment import TINY_SETTINGS

from moot.training import AdapterManifest, NotEnoughData, TrainingExample
from moot.training.lora_training import LoraTrainingConfig
from moot.training.ray_jobs import RayTrainingWorker

RAY = str(Path(sys.executable).with_name("ray"))
# A loopback cluster of this test alone: no token to share between its processes.
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

FILE = 'name = "on-ray"\nseeds = [0]' + TINY_SETTINGS + """lora = {{ max_steps = 1, rank = 4, alpha = 8 }}
[[arms]]
name = "Debate, trained"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(*args: str) -> subprocess.Popen:
    """A Ray node of this test's own, in a process group of its own: killing the group stops it,
    where ``ray stop`` would stop every Ray cluster of this user on the machine."""
    return subprocess.Popen([RAY, "start", "--node-ip-address=127.0.0.1", "--block", *args], env=ENV,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_node(node: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # a node that never came up has no group left
        os.killpg(node.pid, signal.SIGTERM)
    node.wait(timeout=60)


class Cluster(NamedTuple):
    address: str  # host:port of the head (0 CPUs)
    worker: subprocess.Popen  # the one worker node (1 CPU)


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker node on loopback."""
    address = f"127.0.0.1:{free_port()}"
    nodes = [start_node("--head", f"--port={address.rsplit(':', 1)[1]}", "--num-cpus=0", "--include-dashboard=false",
                        "--disable-usage-stats")]
    try:  # stopped however far it got: a head that timed out would otherwise outlive the test
        deadline = time.monotonic() + 120
        while subprocess.run([RAY, "status", f"--address={address}"], env=ENV, capture_output=True).returncode != 0:
            assert nodes[0].poll() is None and time.monotonic() < deadline, "the test's Ray head did not start"
            time.sleep(1)
        nodes.append(start_node(f"--address={address}", "--num-cpus=1"))
        yield Cluster(address, nodes[1])
    finally:
        import ray

        ray.shutdown()  # this process joined the cluster for the distillation test
        for node in reversed(nodes):
            stop_node(node)


def task_processes(node: subprocess.Popen, name: str) -> list[psutil.Process]:
    """The worker processes of ``node`` running a task of the function ``name`` (Ray titles them
    ``ray::name``); another cluster's on this machine are not among them."""
    found = []
    for process in psutil.Process(node.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # one that ended meanwhile
            if any(part.startswith(f"ray::{name}") for part in process.cmdline()):
                found.append(process)
    return found


def test_an_experiment_runs_on_the_cluster_and_a_run_whose_worker_is_killed_resumes(cluster, tiny_model_dir, tmp_path):
    (tmp_path / "tiny.toml").write_text(FILE.format(model_dir=tiny_model_dir))
    runs = tmp_path / "runs"
    run_dir = runs / "on-ray" / "debate-trained" / "seed0"
    command = subprocess.Popen([sys.executable, "-m", "moot.cli", "experiment", "run", "tiny.toml", "--runs-dir", "runs",
                                "--ray", cluster.address, "--ray-cpus", "1"], cwd=tmp_path, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (run_dir / "progress.json").is_file() or not json.loads((run_dir / "progress.json").read_text())["phases"]:
        assert command.poll() is None, command.communicate()[0]
        assert time.monotonic() < deadline, "no phase finished in 5 minutes"
        time.sleep(0.5)
    finished_before = set(json.loads((run_dir / "progress.json").read_text())["phases"])
    (victim,) = task_processes(cluster.worker, "_run_on_node")
    victim.kill()  # the worker process running the (arm, seed) dies mid-run
    output = command.communicate(timeout=600)[0]
    assert command.returncode == 0, output
    assert (run_dir / "report.json").is_file()
    log = run_dir.with_suffix(".log").read_text()
    # Ray started the run again on the node, and it resumed: the phases done before the kill were not redone
    for phase in finished_before:
        assert f"{phase}: finished before this resume; not redone" in log
    assert "Debate, trained, seed 0: finished" in output
    # run again: everything is finished, nothing is sent to the cluster
    again = subprocess.run([sys.executable, "-m", "moot.cli", "experiment", "run", "tiny.toml", "--runs-dir", "runs",
                            "--ray", cluster.address], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "1 of 1 runs finished before; skipped" in again.stdout, again.stdout + again.stderr


def test_a_distillation_trains_on_a_cluster_node_and_the_adapter_comes_back(cluster, tiny_model_dir, tmp_path):
    examples = [TrainingExample(f"r{i}", "solver", [{"role": "user", "content": "1 + 1?"}], "2") for i in range(4)]
    worker = RayTrainingWorker(cluster.address, cpus=1)
    steps = []
    manifest = worker.train(tiny_model_dir, examples, tmp_path / "solver", role="solver",
                            config=LoraTrainingConfig(rank=4, alpha=8, max_steps=1, batch_size=2),
                            on_step=lambda *step: steps.append(step))
    assert manifest.record_ids == ["r0", "r1", "r2", "r3"] and steps == [(1, 1, manifest.train_loss)]
    assert (tmp_path / "solver" / "adapter_model.safetensors").is_file()
    assert AdapterManifest.load(tmp_path / "solver") == manifest  # the manifest came back with the weights
    # an error on the node arrives as itself
    with pytest.raises(NotEnoughData):
        worker.train(tiny_model_dir, [], tmp_path / "none", role="solver")
    assert not (tmp_path / "none").exists()
