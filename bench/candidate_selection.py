"""LUCB against uniform allocation of evaluation episodes, when several candidate adapters compete.

The candidates are real: the base model and the adapters that single-agent self-training
(STaR) produced over 3 iterations and 2 seeds in the claims suite, all for one role. Each is
scored once on every one of ``--problems`` fresh problems (a large uniform evaluation: the
reference). The searches are then replayed on those recorded outcomes, ``--replays`` times,
each replay with the problems in a new random order (the same order for every candidate):
how many episodes each allocation spends (until its stopping rule is satisfied, or its
problems run out), and how often its pick is within ``epsilon`` of the reference best;
uniform allocation is also stopped at LUCB's episode count, for a same-budget comparison.
Each is run with three stopping rules: Hoeffding and KL intervals with the error spread over
every play count (anytime), and KL intervals with it spread over the problems there are
(horizon, the default).

    python bench/candidate_selection.py        # writes results/candidate-selection/
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

from moot.selection.candidates import CandidateConfig, select_candidate
from moot.promotion.gate import TaskGate
from moot.nodes import DebateConfig, LocalEngine, LocalModelPool
from moot.protocols import DEBATE
from moot.evaluation.report import pyplot
from moot.evaluation.tasks import SplitSizes, arithmetic_task

ROLE = "debater-0"


def candidate_folders(runs: Path) -> dict[str, Path | None]:
    folders: dict[str, Path | None] = {"base": None}
    for seed in (0, 1):
        for iteration in (1, 2, 3):
            folder = runs / f"seed{seed}" / "adapters" / f"it{iteration}" / ROLE
            if folder.is_dir():
                folders[f"STaR seed {seed} it{iteration}"] = folder
    return folders


def reference_outcomes(folders: dict[str, Path | None], problems: int, out: Path) -> dict[str, list[float]]:
    """Every candidate on every problem, greedy (cached in ``out``: the slow part runs once)."""
    cache = out / "outcomes.json"
    if cache.is_file():
        return json.loads(cache.read_text())["outcomes"]
    task = arithmetic_task("sum2", SplitSizes(train=1, validation=1, test=problems), seed=99)  # not a training seed
    pool = LocalModelPool(LocalEngine.from_pretrained(dtype="float32"))
    views = [pool.pinned({ROLE: pool.load(ROLE, folder) if folder else None}) for folder in folders.values()]
    started = time.perf_counter()
    scores = TaskGate(DEBATE, DebateConfig(n_agents=1, n_rounds=1, temperature=0.0), task.test, 32).score(views)
    outcomes = dict(zip(folders, scores))
    out.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"problems": problems, "seconds": round(time.perf_counter() - started, 1),
                                 "outcomes": outcomes}))
    return outcomes


def replay(outcomes: dict[str, list[float]], config: CandidateConfig, replays: int) -> list[dict[str, float]]:
    """LUCB, uniform under the same stopping rule, and uniform stopped at LUCB's episode count (the same budget)."""
    names, n = list(outcomes), len(next(iter(outcomes.values())))
    reference = {name: sum(o) / n for name, o in outcomes.items()}
    best = max(reference.values())
    rows: dict[str, dict[str, list[float]]] = {}
    for seed in range(replays):
        order = random.Random(seed).sample(range(n), n)

        def play(name: str, start: int, count: int) -> list[float]:
            return [outcomes[name][i] for i in order[start:start + count]]

        adaptive = select_candidate(names, play, config, episodes_per_candidate=n)
        uniform = replace(config, allocation="uniform")
        same_rule = select_candidate(names, play, uniform, episodes_per_candidate=n)
        # uniform spending LUCB's episodes: every candidate on the same first problems
        same_budget = select_candidate(names, play, uniform, episodes_per_candidate=max(1, adaptive.played // len(names)))
        for label, found in (("lucb", adaptive), ("uniform, same stopping rule", same_rule),
                             ("uniform, LUCB's episode budget", same_budget)):
            row = rows.setdefault(label, {"episodes": [], "right": [], "separated": []})
            row["episodes"].append(found.played)
            row["right"].append(float(reference[found.best] >= best - config.epsilon))
            row["separated"].append(float(found.search.separated))
    return [{"allocation": label, "bounds": config.bounds, "time_union": config.time_union, "delta": config.delta,
             "epsilon": config.epsilon,
             "episodes_mean": round(statistics.mean(r["episodes"]), 1), "episodes_sd": round(statistics.pstdev(r["episodes"]), 1),
             "right_rate": round(statistics.mean(r["right"]), 3), "separated_rate": round(statistics.mean(r["separated"]), 3)}
            for label, r in rows.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/claims-sum2/single-agent-self-training-star"))
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--replays", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("results/candidate-selection"))
    args = parser.parse_args()
    outcomes = reference_outcomes(candidate_folders(args.runs), args.problems, args.out)
    n = len(next(iter(outcomes.values())))
    reference = {name: round(sum(o) / n, 3) for name, o in outcomes.items()}
    rows = []
    for bounds, time_union in (("hoeffding", "anytime"), ("kl", "anytime"), ("kl", "horizon")):
        for epsilon in (0.0, 0.05, 0.1):
            config = CandidateConfig(count=len(outcomes), delta=0.1, bounds=bounds, time_union=time_union,
                                     epsilon=epsilon, block=1)
            for row in replay(outcomes, config, args.replays):
                rows.append(row)
                print(row)
    result = {"candidates": reference, "problems": n, "replays": args.replays,
              "full_uniform_episodes": n * len(outcomes), "rows": rows}
    (args.out / "results.json").write_text(json.dumps(result, indent=1))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(24, 5))
    labels = [f"{r['allocation'].replace(', ', chr(10))}\n{r['bounds']}, {r['time_union']}\nε={r['epsilon']}" for r in rows]
    ax.bar(labels, [r["episodes_mean"] for r in rows], yerr=[r["episodes_sd"] for r in rows], capsize=5,
           color=["#2f80ed" if r["allocation"] == "lucb" else "#9aa5b1" for r in rows])
    plt.setp(ax.get_xticklabels(), fontsize=7)
    for i, r in enumerate(rows):
        ax.text(i, r["episodes_mean"] + r["episodes_sd"] + 10, f"right {r['right_rate']:.2f}", ha="center", fontsize=8)
    ax.axhline(n * len(outcomes), color="black", linestyle=":", label=f"full uniform evaluation ({n * len(outcomes)})")
    ax.set_ylabel(f"validation episodes to stop (mean ± sd over {args.replays} replays)")
    ax.set_title(f"picking the best of {len(outcomes)} candidate adapters")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "episodes.png", dpi=120)
    print(json.dumps(reference), f"\nreport: {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
