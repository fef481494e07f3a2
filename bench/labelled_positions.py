"""One LoRA SFT step on the embedded model with trl's fused LM head as it runs on a CPU, and with moot's
labelled-positions-only scoring (``moot.training.labelled_positions``), side by side in one run.

Two kinds of data: short sums (a 30-token prompt, a 3-token answer) and long prompts with short
replies, as negotiation turns and debate rounds are (about 300 prompt tokens, a 16-token reply).
Each arm trains in its own process (batch 6, 3 steps, float32); the first step, which pays
one-off set-up, is left out of the per-step time.

Run: ``python bench/labelled_positions.py`` (writes ``results/labelled-positions/labelled_positions.json``).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from fresh_process import in_fresh_process

RULES = ("You are the seller in a negotiation over a used bicycle. Each turn you may make an offer, accept, "
         "or walk away. Your reservation price is private. ") * 8


def examples(kind: str) -> list:
    from moot.training import TrainingExample

    rng = random.Random(0)
    rows = []
    for i in range(18):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if kind == "short sums":
            prompt, reply = f"What is {a} + {b}? Reply with the number only.", str(a + b)
        else:
            prompt, reply = f"{RULES}\nThe buyer offered {a * 10}. Your move.", f"OFFER {b * 10}: meet me halfway, friend."
        rows.append(TrainingExample(f"r{i}", "seller", [{"role": "user", "content": prompt}], reply))
    return rows


def measure(arm: str, kind: str) -> dict:
    import moot.training.labelled_positions as labelled
    from moot.nodes.serving import embedded_model_dir
    from moot.training import LoraTrainingConfig, train_lora_adapter

    if arm == "trl's fused head":
        labelled.score_labelled_positions_only = lambda model: None  # leave trl's forward in place
    steps: list[float] = []
    manifest = train_lora_adapter(embedded_model_dir(), examples(kind), Path(tempfile.mkdtemp()) / "adapter",
                                  role="seller", config=LoraTrainingConfig(batch_size=6, max_steps=3, dtype="float32"),
                                  on_step=lambda step, total, loss: steps.append(time.perf_counter()))
    return {"arm": arm, "data": kind, "seconds_per_step": round((steps[-1] - steps[0]) / (len(steps) - 1), 2),
            "mean_loss": round(manifest.train_loss, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # one arm and data kind in this process
    parser.add_argument("--out", type=Path, default=Path("results/labelled-positions/labelled_positions.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one)))
        return
    rows = []
    for kind in ("short sums", "long prompts"):
        for arm in ("trl's fused head", "labelled positions only"):
            rows.append(in_fresh_process(__file__, arm, kind))
            print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print("| data | trl's fused head, s/step | labelled positions only, s/step | speed-up | loss (trl / moot) |")
    print("|---|---|---|---|---|")
    for trl_row, ours in zip(rows[::2], rows[1::2]):
        print(f"| {trl_row['data']} | {trl_row['seconds_per_step']} | {ours['seconds_per_step']} | "
              f"{trl_row['seconds_per_step'] / ours['seconds_per_step']:.1f}x | {trl_row['mean_loss']} / {ours['mean_loss']} |")


if __name__ == "__main__":
    main()
