"""What a GRPO step costs on a CPU beside an SFT step, on the embedded model, side by side in one run.

Both train on two-digit sums as ``experiments/grpo-sum2.toml`` does (float32, one thread when
run with ``OMP_NUM_THREADS=1``): SFT on batches of 8 kept answers; GRPO on batches of 2
prompts x 4 sampled replies of up to 16 tokens, at temperature 0.7, with LoRA's dropout off
(moot's choice) and, as a third arm, on (trl's default for GRPO). Each arm trains 3 steps in
its own process, twice, alternating; the first step, which pays one-off set-up, is left out.

Run: ``OMP_NUM_THREADS=1 python bench/grpo_step.py`` (writes ``results/grpo-step/grpo_step.json``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_table import save_and_show
from fresh_process import in_fresh_process
from sum_questions import sum_questions


# arm -> (objective, trl settings beyond the shared ones)
ARMS = {"sft": ("sft", {}), "grpo": ("grpo", {}), "grpo, dropout on": ("grpo", {"disable_dropout": False})}


def data(objective: str) -> list:
    from moot.training import TrainingExample
    from moot.training.task_rewards import TaskPrompt

    return [TaskPrompt(f"r{i}", "solver", question, answer, "number") if objective == "grpo"
            else TrainingExample(f"r{i}", "solver", question, answer) for i, (question, answer) in enumerate(sum_questions(24))]


def measure(arm: str) -> dict:
    from moot.nodes.serving import embedded_model_dir
    from moot.training import LoraTrainingConfig, train_lora_adapter

    objective, extra = ARMS[arm]
    grpo = ({"num_generations": 4, "max_completion_tokens": 16, "extra": {"temperature": 0.7, **extra}}
            if objective == "grpo" else {})
    steps: list[float] = []
    train_lora_adapter(embedded_model_dir(), data(objective), Path(tempfile.mkdtemp()) / "adapter", role="solver",
                       config=LoraTrainingConfig(objective=objective, batch_size=8, max_steps=3, dtype="float32", **grpo),
                       on_step=lambda step, total, loss: steps.append(time.perf_counter()))
    return {"arm": arm, "seconds_per_step": round((steps[-1] - steps[0]) / (len(steps) - 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one arm in this process
    parser.add_argument("--out", type=Path, default=Path("results/grpo-step/grpo_step.json"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    rows = []
    for run in (1, 2):
        for arm in ARMS:
            rows.append({"run": run, **in_fresh_process(__file__, arm)})
            print(rows[-1], flush=True)
    for row in rows:
        sft = next(r for r in rows if r["run"] == row["run"] and r["arm"] == "sft")
        row["ratio_to_sft"] = round(row["seconds_per_step"] / sft["seconds_per_step"], 1)
    save_and_show(rows, args.out, {"run": "run", "arm": "arm", "seconds_per_step": "s / step",
                                   "ratio_to_sft": "× the same run's SFT step"})


if __name__ == "__main__":
    main()
