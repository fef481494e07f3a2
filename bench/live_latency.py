"""Serving latency while a distillation runs, next to the latency with none running, from one live run.

Both numbers come from the same run (the same traffic, the same machine, minutes apart), so
the ratio is not thrown off by another run's noise. Give it a finished ``moot live`` run, or
let it run one::

    python bench/live_latency.py --run-dir runs/live-debate          # read a finished run
    python bench/live_latency.py --minutes 10                        # run one first

It writes ``results/live-latency/latency.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from moot.loops.live import latency_while_distilling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a finished moot live run (default: run one into runs/bench-live)")
    parser.add_argument("--minutes", type=float, default=10.0, help="traffic minutes, when it runs one")
    parser.add_argument("--out", type=Path, default=Path("results/live-latency"))
    args = parser.parse_args()
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = Path("runs/bench-live")
        subprocess.run([sys.executable, "-m", "moot.cli", "live", "debate", "--minutes", str(args.minutes),
                        "--run-dir", str(run_dir), "--overwrite"], check=True)
    report = json.loads((run_dir / "live.json").read_text())
    split = latency_while_distilling(report["traffic"])
    result = {"run": str(run_dir), "minutes": report["minutes"], "requests": len(report["traffic"]), **split}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(result, indent=2))
    print(f"{'':12} {'n':>5} {'p50 s':>7} {'p95 s':>7}")
    for key in ("idle", "distilling"):
        print(f"{key:12} {split[key]['n']:>5} {split[key]['p50_s']:>7} {split[key]['p95_s']:>7}")
    print(f"p95 distilling / idle: {split['p95_ratio']}")


if __name__ == "__main__":
    main()
