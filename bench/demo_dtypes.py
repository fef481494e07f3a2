"""`make demo` in float32 and in bfloat16, side by side in one sitting: wall time and held-out accuracy.

Each dtype runs the demo's exact command (same seed, so the same problems) in its own run
folder; a dtype whose folder already holds a report is not run again, so the script resumes
after an interruption. Run it in the background (about 30 minutes on 2 cores)::

    nohup .venv/bin/python bench/demo_dtypes.py > runs/demo-dtypes.log 2>&1 &

Writes ``results/demo-dtypes/comparison.json`` and copies each run's report beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEMO = ["improve", "debate", "--task", "arithmetic", "--iterations", "1"]


def run_demo(dtype: str, run_dir: Path) -> dict:
    report = run_dir / "report.json"
    if not report.is_file():
        shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted run starts over cleanly
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "moot.cli", *DEMO, "--dtype", dtype, "--run-dir", str(run_dir)], check=True)
        (run_dir / "wall_s.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    data = json.loads(report.read_text())
    return {"dtype": dtype, "resolved_dtype": json.loads((run_dir / "config.json").read_text()).get("resolved_dtype"),
            "wall_s": float((run_dir / "wall_s.txt").read_text()), "timings_s": data["timings_s"],
            "scores": {s["name"]: {"accuracy": s["accuracy"], "stderr": s["stderr"], "n": s["n"]} for s in data["scores"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/demo-dtypes"))
    parser.add_argument("--out", type=Path, default=Path("results/demo-dtypes"))
    args = parser.parse_args()
    rows = [run_demo(dtype, args.runs / dtype) for dtype in ("float32", "bfloat16")]
    f32, b16 = rows
    comparison = {"runs": rows, "wall_time_ratio_bf16_over_f32": round(b16["wall_s"] / f32["wall_s"], 3), "accuracy": {}}
    for name, a in f32["scores"].items():
        b = b16["scores"][name]
        within = abs(a["accuracy"] - b["accuracy"]) <= max(a["stderr"], b["stderr"])
        comparison["accuracy"][name] = {"float32": a, "bfloat16": b, "within_one_stderr": within}
    args.out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        for name in ("report.json", "report.png", "config.json"):
            shutil.copy(args.runs / row["dtype"] / name, args.out / f"{row['dtype']}-{name}")
    (args.out / "comparison.json").write_text(json.dumps(comparison, indent=2))
    print(f"wall time: float32 {f32['wall_s']:.0f} s, bfloat16 {b16['wall_s']:.0f} s "
          f"(ratio {comparison['wall_time_ratio_bf16_over_f32']:.2f})")
    for name, row in comparison["accuracy"].items():
        print(f"{name}: {row['float32']['accuracy']:.2f} ± {row['float32']['stderr']:.2f} (float32) vs "
              f"{row['bfloat16']['accuracy']:.2f} ± {row['bfloat16']['stderr']:.2f} (bfloat16), "
              f"within one SE: {row['within_one_stderr']}")


if __name__ == "__main__":
    main()
