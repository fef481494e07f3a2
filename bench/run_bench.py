"""Benchmarks for the vertical slice, measured side by side in one run on this machine.

* round throughput: one debate round's prompts run sequentially vs as one batch;
* hot-swap latency: publishing a LoRA adapter into the running model;
* experience-library writes per second (embedding included).

Run: ``make bench`` (or ``python bench/run_bench.py --rows 8``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from moot.nodes import LocalEngine, LocalModelPool
from moot.nodes.serving.embedded_model import embedded_model_dir
from moot.stores import ExperienceLibrary, ExperienceRecord
from moot.evaluation.tasks import arithmetic_task


def round_throughput(pool: LocalModelPool, rows: int, max_tokens: int) -> dict:
    questions = [[{"role": "user", "content": p.question}] for p in arithmetic_task().test[:rows]]
    model = pool.model("bench", temperature=0.0, max_tokens=max_tokens)
    model.invoke(questions[0])  # warm-up

    def tokens(messages) -> int:
        return sum(m.usage_metadata["output_tokens"] for m in messages)

    start = time.perf_counter()
    sequential = [model.invoke(q) for q in questions]
    sequential_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = model.batch(questions)
    batched_s = time.perf_counter() - start
    # Identical in float32; in bfloat16 a near-tie may break differently in a batch.
    identical = sum(b.content == s.content for b, s in zip(batched, sequential))
    seq_tps, bat_tps = tokens(sequential) / sequential_s, tokens(batched) / batched_s
    return {"rows": rows, "identical_outputs": identical, "sequential_s": round(sequential_s, 2), "batched_s": round(batched_s, 2),
            "sequential_tokens_per_s": round(seq_tps, 1), "batched_tokens_per_s": round(bat_tps, 1),
            "speedup": round(bat_tps / seq_tps, 2)}


def swap_latency(pool: LocalModelPool, versions: int) -> dict:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = Path(tempfile.mkdtemp(prefix="moot-bench-adapter-"))
    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir())
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(base, lora).save_pretrained(folder)
    timings = []
    for _ in range(versions):
        start = time.perf_counter()
        pool.publish("bench", folder)
        timings.append(time.perf_counter() - start)
    return {"versions": versions, "median_s": round(statistics.median(timings), 3), "max_s": round(max(timings), 3)}


def library_writes(records: int) -> dict:
    library = ExperienceLibrary(tempfile.mkdtemp(prefix="moot-bench-library-"))
    library.add([ExperienceRecord("warm", "warm-up", [], {})])
    batch = [
        ExperienceRecord(f"r{i}", f"{i} + {i} = {2 * i}", [{"role": "user", "content": f"What is {i} + {i}?"}],
                         {"episode": f"e{i // 6}", "agent": i % 3, "round": (i // 3) % 2, "role": f"debater-{i % 3}"})
        for i in range(records)
    ]
    start = time.perf_counter()
    library.add(batch)
    elapsed = time.perf_counter() - start
    return {"records": records, "seconds": round(elapsed, 2), "records_per_s": round(records / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[3, 8, 32], help="prompts per round")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()
    # The swap benchmark publishes a random adapter made without a manifest.
    pool = LocalModelPool(LocalEngine.from_pretrained(dtype=args.dtype, allow_unverified_adapters=True))
    results = {
        "round_throughput": [round_throughput(pool, rows, args.max_tokens) for rows in args.rows],
        "swap_latency": swap_latency(pool, args.versions),
        "library_writes": library_writes(args.records),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
