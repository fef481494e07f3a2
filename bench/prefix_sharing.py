"""Shared prompt prefixes prefilled once: prefill tokens and wall time with sharing on and off, side by side.

Two workloads on the embedded model, each sent as one concurrent batch:

* **debate round 2**: the second-round prompts of 3-agent debates on 8 two-digit sums (each
  agent's prompt holds the question and the others' first answers), and the first round's
  (three identical prompts per question) for comparison;
* **chat app**: 16 requests with one fixed system prompt and different user questions, sent
  together, and sent one after another (each waits for the last: an interactive user), where
  only the prefix cache of earlier requests can help.

The two settings alternate over ``--repeats`` rounds in one process, so both see the same
machine. Writes ``results/prefix-sharing/prefix_sharing.json`` and prints the table::

    python bench/prefix_sharing.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import convert_to_openai_messages

from moot.evaluation.tasks import SplitSizes, arithmetic_task
from moot.graphs.debate import build_debate_graph
from moot.nodes import DebateConfig, LocalEngine, LocalModelPool, SamplingParams

SYSTEM = ("You are the support assistant of Northwind Outfitters, an outdoor equipment shop. Answer in two "
          "sentences at most. Be friendly and precise. Orders ship within 2 business days; returns are free "
          "within 30 days with the receipt; gift cards never expire; the shop is open 9-18 on weekdays and "
          "10-16 on Saturdays. If you do not know, say so and offer to connect the customer with a person.")
QUESTIONS = ["Can I return a tent I bought last week?", "When are you open on Saturday?", "Do gift cards expire?",
             "How long does shipping take?", "Do you sell climbing ropes?", "Can I change my delivery address?",
             "Is there a student discount?", "My boots are too small, what now?", "Do you repair bikes?",
             "Can I pay with PayPal?", "Where is my order?", "Do you ship abroad?", "What is your phone number?",
             "Can I reserve a kayak?", "Are your jackets waterproof?", "Do you have a loyalty program?"]


class _Prompts(BaseCallbackHandler):
    """Collects each chat model call's messages, by debate round."""

    def __init__(self) -> None:
        self.by_round: dict[int, list[list[dict[str, Any]]]] = {}

    def on_chat_model_start(self, serialized, messages, *, metadata=None, **kwargs):  # noqa: ANN001
        self.by_round.setdefault(int((metadata or {}).get("round", 0)), []).append(convert_to_openai_messages(messages[0]))


def debate_prompts(pool: LocalModelPool) -> dict[int, list[list[dict[str, Any]]]]:
    problems = arithmetic_task("sum2", SplitSizes(train=8, validation=1, test=1), seed=0).train
    graph = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2, roles="shared", temperature=0.0))
    collector = _Prompts()
    graph.batch([{"question": p.question} for p in problems], {"callbacks": [collector], "max_concurrency": 8})
    return collector.by_round


def measure(engine: LocalEngine, conversations: list, params: SamplingParams, share: bool,
            one_by_one: bool = False) -> dict[str, float]:
    engine.min_shared_prefix = 16 if share else 0
    engine.prefix_cache.forget(None)  # each measurement starts with nothing cached
    engine.prefill_tokens = engine.prefill_tokens_saved = 0
    started = time.perf_counter()
    for batch in ([[c] for c in conversations] if one_by_one else [conversations]):
        engine.generate(batch, params)
    return {"wall_s": time.perf_counter() - started, "prefill_tokens": engine.prefill_tokens,
            "saved_tokens": engine.prefill_tokens_saved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/prefix-sharing"))
    args = parser.parse_args()
    engine = LocalEngine.from_pretrained(dtype="float32")
    rounds = debate_prompts(LocalModelPool(engine))
    chat = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}] for q in QUESTIONS]
    workloads = {
        "debate round 1 (24 prompts)": (rounds[0], SamplingParams(max_new_tokens=16, temperature=0.0)),
        "debate round 2 (24 prompts)": (rounds[1], SamplingParams(max_new_tokens=16, temperature=0.0)),
        "chat app, fixed system prompt (16 prompts)": (chat, SamplingParams(max_new_tokens=32, temperature=0.0)),
        "chat app, one request at a time (16 prompts)": (chat, SamplingParams(max_new_tokens=32, temperature=0.0)),
    }
    results = {}
    for name, (conversations, params) in workloads.items():
        runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
        for _ in range(args.repeats):
            for setting in ("off", "on"):
                runs[setting].append(measure(engine, conversations, params, setting == "on",
                                             one_by_one="one request at a time" in name))
        off, on = runs["off"], runs["on"]
        results[name] = {
            "prefill_tokens_off": off[0]["prefill_tokens"], "prefill_tokens_on": on[0]["prefill_tokens"],
            "saved_share": round(on[0]["saved_tokens"] / off[0]["prefill_tokens"], 3),
            "wall_s_off": round(statistics.median(r["wall_s"] for r in off), 2),
            "wall_s_on": round(statistics.median(r["wall_s"] for r in on), 2),
        }
        results[name]["speedup"] = round(results[name]["wall_s_off"] / results[name]["wall_s_on"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prefix_sharing.json").write_text(json.dumps({"repeats": args.repeats, "workloads": results}, indent=1))
    print(f"{'workload':45} {'prefill off':>11} {'on':>6} {'saved':>6} {'wall off':>9} {'on':>6} {'x':>5}")
    for name, r in results.items():
        print(f"{name:45} {r['prefill_tokens_off']:>11} {r['prefill_tokens_on']:>6} {r['saved_share']:>6.0%} "
              f"{r['wall_s_off']:>9} {r['wall_s_on']:>6} {r['speedup']:>5}")


if __name__ == "__main__":
    main()
