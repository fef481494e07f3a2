"""How much of this machine the engine uses: matmul roofline vs the engine's throughput, per dtype.

For each compute dtype this measures, side by side in one run:

* the matmul peak at the embedded model's own matrix shapes (the roofline);
* the engine's processed tokens per second (prompt + generated) on a realistic second debate
  round (each agent sees its peers' answers), greedy, at batch 1, 8 and 32, and the effective
  GFLOPS those tokens imply (2 FLOPs per parameter per token, attention included);
* each engine figure as a percentage of its dtype's roofline;
* serving: requests of different lengths arriving one at a time, with both schedulers
  (wall time and latency p50 / p95).

Run: ``python bench/roofline.py`` (``--dtypes float32`` on a CPU without bf16 units).
Writes ``results/roofline/roofline.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from moot.nodes import LocalEngine, SamplingParams
from moot.nodes.serving.compute_dtype import cpu_flags, has_bf16_matrix_units
from moot.nodes.debate import DebateConfig, agent_conversation
from moot.evaluation.tasks import arithmetic_task


def model_shapes(config) -> dict[str, tuple[int, int]]:
    """(in, out) of every distinct linear layer of a Llama-style model, the LM head included."""
    head_dim = config.hidden_size // config.num_attention_heads
    return {
        "q/o proj": (config.hidden_size, config.num_attention_heads * head_dim),
        "k/v proj": (config.hidden_size, config.num_key_value_heads * head_dim),
        "gate/up proj": (config.hidden_size, config.intermediate_size),
        "down proj": (config.intermediate_size, config.hidden_size),
        "lm head": (config.hidden_size, config.vocab_size),
    }


def matmul_gflops(tokens: int, k: int, n: int, dtype: torch.dtype, min_s: float = 0.5) -> float:
    a, b = torch.randn(tokens, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_s:
        a @ b
        runs += 1
    return 2 * tokens * k * n * runs / elapsed / 1e9


def roofline(config, dtype: torch.dtype, tokens: int) -> dict:
    per_shape = {name: round(matmul_gflops(tokens, k, n, dtype), 1) for name, (k, n) in model_shapes(config).items()}
    return {"tokens": tokens, "gflops_per_shape": per_shape, "peak_gflops": max(per_shape.values())}


def flops_per_token(config, context: int) -> float:
    """Forward FLOPs per token: 2 per weight of every layer and the LM head, plus attention over ``context``."""
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    head_dim = h // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    layer_weights = h * q + 2 * h * kv + q * h + 2 * h * i + i * h
    attention = 2 * 2 * context * q  # scores and weighted values
    return config.num_hidden_layers * (2 * layer_weights + attention) + 2 * h * v


def debate_round_prompts(n: int, agents: int = 3) -> list[list[dict[str, str]]]:
    """Second-round debate prompts: each agent's question, its answer and its peers' answers."""
    config = DebateConfig(n_agents=agents, n_rounds=2)
    problems = arithmetic_task("sum2").test
    prompts = []
    for i in range(n):
        problem = problems[i % len(problems)]
        a, b = (int(x) for x in problem.question.split("What is ")[1].split("?")[0].split(" + "))
        answers = [f"{a} + {b} = {a + b + d}." for d in range(agents)]
        own, peers = answers[i % agents], [x for j, x in enumerate(answers) if j != i % agents]
        prompts.append(agent_conversation(config, problem.question, [{"agent": 0, "round": 0, "text": own}], [peers]))
    return prompts


def engine_throughput(engine: LocalEngine, prompts: list, batch: int, new_tokens: int, repeats: int) -> dict:
    """All prompts queued at once, at most ``batch`` decoding together (a freed slot is refilled at once
    under the continuous scheduler, at the next padded batch under the static one)."""
    params = SamplingParams(max_new_tokens=new_tokens)
    engine.max_batch = batch
    engine.generate(prompts[:batch], params)  # warm-up at this shape
    best, processed, context = float("inf"), 0, 0
    for _ in range(repeats):
        started = time.perf_counter()
        completions = engine.generate(prompts, params)
        best = min(best, time.perf_counter() - started)
        processed = sum(c.prompt_tokens + c.completion_tokens for c in completions)
        context = max(c.prompt_tokens + c.completion_tokens for c in completions)
    return {"batch": batch, "scheduler": engine.scheduler, "prompts": len(prompts), "processed_tokens": processed,
            "seconds": round(best, 2), "tokens_per_s": round(processed / best, 1), "context": context}


def serving_latency(engine: LocalEngine, prompts: list, interval_s: float) -> dict:
    """Requests arriving one every ``interval_s`` with different lengths (4 to 48 new tokens): wall time and latency.

    This is what an app's traffic and the improve loop's staggered episodes look like; the
    all-at-once measurement above is the static scheduler's best case.
    """
    engine.max_batch = 64
    engine.generate(prompts[:2], SamplingParams(max_new_tokens=4))  # warm-up
    latencies: list[float] = []
    started = time.perf_counter()
    futures = []
    for i, prompt in enumerate(prompts):
        # Latency counts from the request's scheduled arrival (an open arrival process), so a
        # submitter held up by a busy engine shows as queueing, not as a fast reply.
        arrival = started + i * interval_s
        time.sleep(max(0.0, arrival - time.perf_counter()))
        future = engine.submit(prompt, None, SamplingParams(max_new_tokens=4 + (i * 7) % 45))
        future.add_done_callback(lambda _, t=arrival: latencies.append(time.perf_counter() - t))
        futures.append(future)
    for future in futures:
        future.result()
    wall = time.perf_counter() - started
    latencies.sort()
    return {"scheduler": engine.scheduler, "requests": len(prompts), "interval_s": interval_s, "wall_s": round(wall, 2),
            "latency_p50_s": round(latencies[len(latencies) // 2], 2),
            "latency_p95_s": round(latencies[int(len(latencies) * 0.95) - 1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--schedulers", nargs="+", default=["static", "continuous"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--prompts", type=int, default=32, help="debate-round prompts per measurement")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--roofline-tokens", type=int, default=2048, help="rows of the roofline matmuls")
    parser.add_argument("--arrival-interval", type=float, default=0.1, help="seconds between requests in the serving run")
    parser.add_argument("--out", type=Path, default=Path("results/roofline/roofline.json"))
    args = parser.parse_args()

    prompts = debate_round_prompts(args.prompts)
    rows, report = [], {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                        "bf16_matrix_units": has_bf16_matrix_units(),
                        "bf16_flags": sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx")),
                        "torch": torch.__version__, "dtypes": {}}
    model_name = (Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0].strip(" :\t")
                  if Path("/proc/cpuinfo").exists() else "")
    report["cpu"] = model_name or report["cpu"]
    for dtype_name in args.dtypes:
        loaded = LocalEngine.from_pretrained(dtype=dtype_name)
        config = loaded.model.config
        roof = roofline(config, getattr(torch, dtype_name), args.roofline_tokens)
        entry = {"roofline": roof, "engine": []}
        for scheduler in args.schedulers:
            engine = LocalEngine(loaded.model, loaded.tokenizer, scheduler=scheduler)
            for batch in args.batches:
                measured = engine_throughput(engine, prompts, batch, args.new_tokens, args.repeats)
                gflops = measured["tokens_per_s"] * flops_per_token(config, measured["context"] // 2) / 1e9
                measured.update(effective_gflops=round(gflops, 1), roofline_pct=round(100 * gflops / roof["peak_gflops"], 1))
                entry["engine"].append(measured)
                rows.append((dtype_name, scheduler, batch, measured, roof["peak_gflops"]))
                print(f"{dtype_name:9s} {scheduler:10s} batch {batch:3d}: {measured['tokens_per_s']:7.1f} processed tok/s, "
                      f"{gflops:6.1f} GFLOPS = {measured['roofline_pct']:5.1f} % of the {roof['peak_gflops']:.0f} GFLOPS "
                      "roofline", flush=True)
        entry["serving"] = []
        for scheduler in args.schedulers:
            serving = serving_latency(LocalEngine(loaded.model, loaded.tokenizer, scheduler=scheduler), prompts,
                                      args.arrival_interval)
            entry["serving"].append(serving)
            print(f"{dtype_name:9s} {scheduler:10s} staggered arrivals: {serving['wall_s']} s in all, latency p50 "
                  f"{serving['latency_p50_s']} s, p95 {serving['latency_p95_s']} s", flush=True)
        report["dtypes"][dtype_name] = entry
        del loaded

    print(f"\nCPU: {report['cpu']} ({report['threads']} threads), bf16 flags: {report['bf16_flags'] or 'none'}")
    print("| dtype | matmul roofline (GFLOPS) | scheduler | batch | processed tok/s | effective GFLOPS | % of roofline |")
    print("|---|---|---|---|---|---|---|")
    for dtype_name, scheduler, batch, m, peak in rows:
        print(f"| {dtype_name} | {peak:.0f} | {scheduler} | {batch} | {m['tokens_per_s']:.0f} | {m['effective_gflops']:.0f} "
              f"| {m['roofline_pct']:.0f} % |")
    print("\n| dtype | scheduler | requests, one every | wall | latency p50 | latency p95 |")
    print("|---|---|---|---|---|---|")
    for dtype_name, entry in report["dtypes"].items():
        for r in entry["serving"]:
            print(f"| {dtype_name} | {r['scheduler']} | {r['requests']}, {r['interval_s']} s | {r['wall_s']} s "
                  f"| {r['latency_p50_s']} s | {r['latency_p95_s']} s |")
    if {"float32", "bfloat16"} <= set(report["dtypes"]):
        f32, b16 = (report["dtypes"][d]["engine"] for d in ("float32", "bfloat16"))
        report["bf16_speedup"] = {f"{a['scheduler']} batch {a['batch']}": round(b["tokens_per_s"] / a["tokens_per_s"], 2)
                                  for a, b in zip(f32, b16)}
        print("bf16 / float32 engine throughput:", report["bf16_speedup"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
