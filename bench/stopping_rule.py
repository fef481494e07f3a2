"""How the stopping rule's union over play counts changes what LUCB spends, on simulated candidates.

The error ``delta`` is spread over play counts either ``anytime`` (every count, level
``ln(4 n u^2 / delta)``) or over a known ``horizon`` of N problems per candidate (level
``ln(2 n N / delta)``): :mod:`moot.selection.bandits`. Bernoulli candidates at accuracies like moot's,
seeded streams, the same streams for both rules; N from 300 to 3,000 problems.

    python bench/stopping_rule.py        # writes results/stopping-rule/results.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from moot.selection.bandits import lucb

CASES = {
    "0.10 / 0.25 / 0.45": {"base": 0.1, "a": 0.25, "b": 0.45},
    "0.45 / 0.55": {"a": 0.45, "b": 0.55},
    "0.17 / 0.38 / 0.47 / 0.54": {"base": 0.17, "a": 0.38, "b": 0.47, "c": 0.54},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("results/stopping-rule"))
    args = parser.parse_args()
    rows = []
    for case, means in CASES.items():
        for horizon in (300, 1000, 3000):
            row = {"candidates": case, "problems_per_candidate": horizon}
            for union in ("anytime", "horizon"):
                found = [lucb(list(means), lambda arm, k: float(random.Random(f"{rep}-{arm}-{k}").random() < means[arm]),
                              delta=0.1, budget=len(means) * horizon, per_arm_budget=horizon, time_union=union)
                         for rep in range(args.replays)]
                row[union] = {"episodes_mean": round(statistics.mean(f.episodes for f in found), 1),
                              "certified_rate": round(statistics.mean(f.separated for f in found), 2),
                              "right_rate": round(statistics.mean(f.best == max(means, key=means.get) for f in found), 2)}
            row["episodes_ratio"] = round(row["horizon"]["episodes_mean"] / row["anytime"]["episodes_mean"], 3)
            rows.append(row)
            print(json.dumps(row))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"delta": 0.1, "replays": args.replays, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
