"""LoRA training in float32 and in bfloat16 on the same data and seed: time per step and loss.

48 two-digit sums with their right answers, 2 epochs of batch 8 (12 steps), the default
LoRA settings, on the embedded model; each dtype in its own process, one after the other.
bfloat16 loads the frozen base in bf16 and trains under autocast; peft keeps the LoRA
weights and their optimizer state in float32.

Run: ``python bench/training_dtype.py`` (writes ``results/training-dtype/training_dtype.json``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from fresh_process import in_fresh_process
from sum_questions import sum_questions


def measure(dtype: str) -> dict:
    from moot.nodes.serving import embedded_model_dir
    from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

    examples = [TrainingExample(f"r{i}", "solver", question, answer) for i, (question, answer) in enumerate(sum_questions(48))]
    steps: list[tuple[float, float | None]] = []
    started = time.perf_counter()
    manifest = train_lora_adapter(embedded_model_dir(), examples, Path(tempfile.mkdtemp()) / "adapter", role="solver",
                                  config=LoraTrainingConfig(epochs=2, batch_size=8, dtype=dtype),  # type: ignore[arg-type]
                                  on_step=lambda step, total, loss: steps.append((time.perf_counter(), loss)))
    per_step = (steps[-1][0] - steps[0][0]) / (len(steps) - 1)
    return {"dtype": manifest.dtype, "steps": len(steps), "total_s": round(time.perf_counter() - started, 1),
            "seconds_per_step": round(per_step, 2), "mean_loss": round(manifest.train_loss, 4),
            "last_logged_loss": steps[-1][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one dtype in this process
    parser.add_argument("--out", type=Path, default=Path("results/training-dtype/training_dtype.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for dtype in args.dtypes:
        rows.append(in_fresh_process(__file__, dtype))
        print(rows[-1], flush=True)
    print("| dtype | s / step | mean loss | last logged loss |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['dtype']} | {r['seconds_per_step']} | {r['mean_loss']} | {r['last_logged_loss']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
