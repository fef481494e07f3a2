"""vLLM's CPU server with its model in a worker process of its own (vLLM's default) against the model in
the engine process (``VLLMServerConfig.worker_in_engine_process``): seconds from launch to the first
answer of ``/v1/models``, then one stream's decode speed (64 greedy tokens, median of three after a
warm-up) and 8 concurrent requests. The arms alternate, so both see the same machine.

Run: ``OMP_NUM_THREADS=1 MOOT_VLLM_PYTHON=.venv-vllm/bin/python python bench/vllm_startup.py``
(one torch thread, as the test suite runs it)
(writes ``results/vllm-startup/vllm_startup.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench_table import save_and_show
from serving_anchors import free_port

from moot.nodes.serving.vllm_server import VLLMServerConfig, start_vllm_server, wait_until_ready

QUESTION = [{"role": "user", "content": "Write a long story about a cat who learns to sail."}]


def ask(config: VLLMServerConfig) -> tuple[int, float]:
    start = time.perf_counter()
    reply = httpx.post(f"{config.base_url}/chat/completions", timeout=300, json={
        "model": config.served_name, "messages": QUESTION, "max_tokens": 64, "temperature": 0.0,
        "ignore_eos": True}).json()
    return reply["usage"]["completion_tokens"], time.perf_counter() - start


def measure(python: str, in_engine: bool) -> dict[str, object]:
    config = VLLMServerConfig(python=python, port=free_port(), worker_in_engine_process=in_engine)
    start = time.perf_counter()
    process = start_vllm_server(config)
    try:
        wait_until_ready(config.base_url, timeout_s=600, process=process)
        ready_s = time.perf_counter() - start
        ask(config)  # warm-up
        one = [tokens / seconds for tokens, seconds in (ask(config) for _ in range(3))]
        begun = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: ask(config), range(8)))
        eight_s = time.perf_counter() - begun
    finally:
        process.terminate()
        process.wait(timeout=60)
    return {"arm": "model in the engine process" if in_engine else "model in its own worker process (default)",
            "ready_s": round(ready_s, 1), "one_stream_tokens_per_s": round(statistics.median(one), 1),
            "eight_at_once_s": round(eight_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="launches per arm, alternating")
    parser.add_argument("--out", type=Path, default=Path("results/vllm-startup/vllm_startup.json"))
    args = parser.parse_args()
    python = os.environ.get("MOOT_VLLM_PYTHON", ".venv-vllm/bin/python")
    rows = []
    for _ in range(args.rounds):
        for in_engine in (False, True):
            rows.append(measure(python, in_engine))
            print(rows[-1], flush=True)
    save_and_show(rows, args.out, {"arm": "vLLM CPU server", "ready_s": "ready after, s",
                                   "one_stream_tokens_per_s": "one stream, tok/s", "eight_at_once_s": "8 at once, s"})


if __name__ == "__main__":
    main()
