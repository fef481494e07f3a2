"""The same debate workload on the local transformers backend and on a vLLM server.

Starts vLLM (CPU build) on loopback with the embedded model, then runs N debates
(3 agents, 2 rounds, greedy, 16 new tokens) on each backend, one episode at a time and all
at once, and prints output tokens per second for the four cases.

Run: ``python bench/backends_bench.py --vllm-python .venv-vllm/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler

from moot.graphs import build_debate_graph
from moot.nodes import LocalEngine, LocalModelPool, ModelPool
from moot.nodes.debate import DebateConfig
from moot.nodes.serving.vllm_pool import VLLMModelPool
from moot.nodes.serving.vllm_server import VLLMServerConfig, start_vllm_server, wait_until_ready
from moot.evaluation.tasks import arithmetic_task


class TokenCounter(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens = 0

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        message = getattr(response.generations[0][0], "message", None)
        self.tokens += (getattr(message, "usage_metadata", None) or {}).get("output_tokens", 0)


def workload(pool: ModelPool, episodes: int, concurrency: int) -> dict:
    graph = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2, temperature=0.0, max_tokens=16))
    questions = [{"question": p.question} for p in arithmetic_task().test[:episodes]]
    counter = TokenCounter()
    start = time.perf_counter()
    graph.batch(questions, config={"callbacks": [counter], "max_concurrency": concurrency})
    elapsed = time.perf_counter() - start
    return {"episodes": episodes, "concurrency": concurrency, "seconds": round(elapsed, 1),
            "output_tokens": counter.tokens, "tokens_per_s": round(counter.tokens / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-python", required=True)
    parser.add_argument("--episodes", type=int, default=16)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = VLLMServerConfig(python=args.vllm_python, port=port)
    server = start_vllm_server(config)
    try:
        wait_until_ready(config.base_url, timeout_s=600, process=server)
        results = {}
        for name, pool in (("local", LocalModelPool(LocalEngine.from_pretrained())), ("vllm", VLLMModelPool(config.base_url))):
            results[name] = {
                "sequential": workload(pool, args.episodes, 1),
                "concurrent": workload(pool, args.episodes, args.episodes),
            }
        print(json.dumps(results, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
