"""Experience-library query times as it grows: 10k, 100k and 300k records.

The library grows in one folder; at each size this times, best of three:

* a run-scoped ``find`` (one run's 2,400 records, what training reads);
* a broad ``find`` (every training record of every run: half the library);
* curation of the run's records into per-role training sets;
* a semantic ``search`` (5 nearest records to a question).

Records are debate turns with realistic metadata. Their vectors are stored as given
(random unit vectors) so that the bench measures the library, not the embedding model;
``search`` still embeds its query text. Run (about 15 minutes)::

    python bench/library_scale.py            # writes results/library-scale/library_scale.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from moot.stores import ExperienceLibrary, ExperienceRecord
from moot.training import debate_training_sets

RUN_RECORDS = 2400  # one improve run: 120 problems x 3 agents x 2 rounds, over a few settings


def make_records(start: int, n: int) -> list[ExperienceRecord]:
    """Records ``start..start+n``: the first 2,400 are run-0's, the rest belong to other runs of the same size."""
    records = []
    for i in range(start, start + n):
        run, problem = i // RUN_RECORDS, i // 6
        a, b = problem % 90 + 10, (problem * 7) % 90 + 10
        question = f"What is {a} + {b}? Reply with the number only."
        text = f"{a} + {b} = {a + b + (i % 3 == 0)}."
        metadata = {"run": f"run-{run}", "iteration": 1, "split": "train" if (i // 6) % 2 else "test", "episode": f"ep-{problem}",
                    "node": "agent", "role": f"debater-{i % 3}", "agent": i % 3, "round": (i // 3) % 2, "target": str(a + b),
                    "answer": str(a + b + (i % 3 == 0)), "correct": i % 3 != 0, "final_correct": i % 4 != 0,
                    "consensus": True, "protocol": "debate", "task": "arithmetic-sum2"}
        records.append(ExperienceRecord(f"r{i}", text, [{"role": "user", "content": question}], metadata))
    return records


def insert(library: ExperienceLibrary, records: list[ExperienceRecord], rng: np.random.Generator) -> None:
    limit = library.client.get_max_batch_size()
    for start in range(0, len(records), limit):
        chunk = records[start : start + limit]
        vectors = rng.standard_normal((len(chunk), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        library.collection.upsert(
            ids=[r.id for r in chunk], documents=[r.text for r in chunk], embeddings=vectors,
            metadatas=[{**r.metadata, "messages": json.dumps(r.messages)} for r in chunk],
        )


def best_of(action, repeats: int = 3) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
        size = len(result)
    return round(best, 3), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 300_000])
    parser.add_argument("--folder", type=Path, default=None, help="library folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=Path("results/library-scale/library_scale.json"))
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="moot-library-scale-"))
    library = ExperienceLibrary(folder)
    rng = np.random.default_rng(0)
    rows, have = [], library.count()
    for size in args.sizes:
        runs = -(-size // RUN_RECORDS)
        started = time.perf_counter()
        insert(library, make_records(have, size - have), rng)
        insert_s = time.perf_counter() - started
        have = size
        run_s, run_n = best_of(lambda: library.find(run="run-0", split="train"))
        broad_s, broad_n = best_of(lambda: library.find(split="train"))
        records = library.find(run="run-0", split="train")
        curate_s, _ = best_of(lambda: debate_training_sets(records))
        search_s, _ = best_of(lambda: library.search("What is 45 + 12?", n=5, run="run-0"))
        row = {"records": library.count(), "runs": runs, "insert_s": round(insert_s, 1),
               "find_run_s": run_s, "find_run_matches": run_n, "find_broad_s": broad_s, "find_broad_matches": broad_n,
               "curate_s": curate_s, "search_s": search_s}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| records | run-scoped find | broad find (matches) | curation | search |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['records']:,} | {r['find_run_s']:.2f} s ({r['find_run_matches']:,}) | {r['find_broad_s']:.2f} s "
              f"({r['find_broad_matches']:,}) | {r['curate_s']:.3f} s | {r['search_s']:.3f} s |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
