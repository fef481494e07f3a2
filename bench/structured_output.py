"""Structured output on the embedded model, with and without constrained decoding, side by side in one run.

n prompts ask for a JSON object with a city (string) and its population (integer), taken
from a sentence. Both arms run the same prompts, greedy, as one concurrent batch each.
Reported per arm: the valid-JSON rate, the schema-valid rate (n and standard error), and
completion tokens per second.

    python bench/structured_output.py            # n = 100; writes results/structured-output/
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError

from moot.nodes import LocalChatModel, LocalEngine
from moot.nodes.serving.constrained_decoding import Grammar
from moot.evaluation.report import mean_stderr

CITIES = ["Paris", "Lyon", "Rome", "Milan", "Berlin", "Hamburg", "Madrid", "Lisbon", "Vienna", "Prague"]


class CityFact(BaseModel):
    city: str
    population: int


def prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(CITIES)} has {rng.randint(10, 999) * 1000} inhabitants. Reply with JSON only, with keys "
            f"\"city\" (string) and \"population\" (integer)." for _ in range(n)]


def judge(text: str) -> tuple[bool, bool]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False, False
    try:
        CityFact.model_validate(data)
    except ValidationError:
        return True, False
    return True, True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("results/structured-output"))
    args = parser.parse_args()
    engine = LocalEngine.from_pretrained()
    chat = LocalChatModel(engine=engine, max_tokens=40)
    grammar = Grammar.json_schema(CityFact.model_json_schema())
    rows = {}
    for arm, kwargs in (("unconstrained", {}), ("constrained", {"grammar": grammar})):
        started = time.perf_counter()
        replies = chat.batch(prompts(args.n), **kwargs)
        seconds = time.perf_counter() - started
        verdicts = [judge(r.content) for r in replies]
        json_rate, json_se = mean_stderr([float(v[0]) for v in verdicts])
        schema_rate, schema_se = mean_stderr([float(v[1]) for v in verdicts])
        tokens = sum(r.usage_metadata["output_tokens"] for r in replies)
        rows[arm] = {"n": args.n, "valid_json": round(json_rate, 3), "valid_json_se": round(json_se, 3),
                     "schema_valid": round(schema_rate, 3), "schema_valid_se": round(schema_se, 3),
                     "completion_tokens": tokens, "seconds": round(seconds, 1),
                     "tokens_per_s": round(tokens / seconds, 1), "example": replies[0].content}
    rows["constrained_tokens_per_s_ratio"] = round(rows["constrained"]["tokens_per_s"] / rows["unconstrained"]["tokens_per_s"], 2)
    rows["dtype"] = engine.dtype
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    for arm in ("unconstrained", "constrained"):
        r = rows[arm]
        print(f"{arm:14} valid JSON {r['valid_json']:.2f} ± {r['valid_json_se']:.2f}, schema-valid "
              f"{r['schema_valid']:.2f} ± {r['schema_valid_se']:.2f} (n={r['n']}), {r['tokens_per_s']} tokens/s")
    print(f"constrained / unconstrained tokens per second: {rows['constrained_tokens_per_s_ratio']}")


if __name__ == "__main__":
    main()
