"""One stream's decode speed on the embedded model once an adapter is loaded: every batch through peft's
per-row routing (``adapter_names``, what moot did before) against ``AdapterRouting``, which switches the
LoRA layers only when a batch needs another adapter. Side by side in one run, 64 greedy tokens per call,
three calls per cell after a warm-up.

Run: ``python bench/adapter_routing.py`` (writes ``results/adapter-routing/adapter_routing.json``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_table import save_and_show

from moot.nodes import LocalEngine, SamplingParams
from moot.nodes.serving.adapter_routing import AdapterRouting
from moot.nodes.serving.generation import BASE_ADAPTER
from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "Write a long story about a cat who learns to sail."}]


class PeftRoutingAlways(AdapterRouting):
    """Every batch through peft's routing, as if its rows differed."""

    def options(self, model, adapters):  # noqa: ANN001, ANN201 - the base's signature
        model.base_model.enable_adapter_layers()
        return {"adapter_names": [adapter or BASE_ADAPTER for adapter in adapters]}


def tokens_per_second(engine: LocalEngine, adapter: str | None, calls: int) -> float:
    params = SamplingParams(max_new_tokens=64, temperature=0.0)
    engine.generate([QUESTION], params, [adapter])  # warm-up
    rates = []
    for _ in range(calls):
        start = time.perf_counter()
        completion = engine.generate([QUESTION], params, [adapter])[0]
        rates.append(completion.completion_tokens / (time.perf_counter() - start))
    return round(statistics.median(rates), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/adapter-routing/adapter_routing.json"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp()) / "adapter"
    examples = [TrainingExample(f"r{i}", "writer", QUESTION, "Once upon a time, a cat set sail.") for i in range(4)]
    engine = LocalEngine.from_pretrained(dtype="float32")
    train_lora_adapter(engine.model_dir, examples, folder, role="writer", config=LoraTrainingConfig(max_steps=2))
    rows = [{"cell": "no adapter loaded", "tokens_per_s": tokens_per_second(engine, None, args.calls)}]
    engine.load_adapter("writer", folder)
    for routing in (PeftRoutingAlways(), AdapterRouting()):
        engine._routing = routing  # the bench swaps the engine's one routing object between arms
        name = "peft routing, every batch" if isinstance(routing, PeftRoutingAlways) else "AdapterRouting"
        for adapter in (None, "writer"):
            cell = f"{name}: {'base row' if adapter is None else 'adapter row'}"
            rows.append({"cell": cell, "tokens_per_s": tokens_per_second(engine, adapter, args.calls)})
            print(rows[-1], flush=True)
    save_and_show(rows, args.out, {"cell": "one stream, 64 greedy tokens", "tokens_per_s": "tokens/s"})


if __name__ == "__main__":
    main()
