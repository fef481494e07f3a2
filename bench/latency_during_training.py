"""Serving latency while a LoRA distillation trains beside it, in windows interleaved over one run.

One engine serves the same requests throughout (the embedded model, its defaults, no adapter
change), from a few simulated users who each send a chat request and wait a moment before the
next. The run cycles through three kinds of window, in turn, several times:

* ``idle``: nothing else runs;
* ``training, yielding``: the live learner's training process (its default threads and nice
  level) trains an adapter, paused while requests are in flight
  (:class:`~moot.training.traffic_yield.TrafficYield`, the default ``min_train_share``);
* ``training, not yielding``: the same training, left to the nice level alone.

Each request is counted in the window it started in; a training window's job is cancelled
when the window ends. Interleaving puts all three under the same drift of the machine.

Run: ``python bench/latency_during_training.py --cycles 3 --window-s 120``; writes
``results/latency-during-training/latency.json`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

from moot.loops.live import quantile
from moot.nodes.serving import LocalEngine, SamplingParams
from moot.nodes.serving.embedded_model import embedded_model_dir
from moot.training.distiller_config import DistillerConfig
from moot.training.examples import TrainingExample
from moot.training.jobs import TrainingCancelled, TrainingWorker
from moot.training.lora_training import LoraTrainingConfig
from moot.training.traffic_yield import TrafficYield

WINDOWS = ("idle", "training, yielding", "training, not yielding")


def questions(n: int = 64) -> list[list[dict[str, str]]]:
    rng = random.Random(0)
    return [[{"role": "user", "content": f"What is {rng.randint(10, 99)} + {rng.randint(10, 99)}? Answer with a number."}]
            for _ in range(n)]


def examples() -> list[TrainingExample]:
    return [TrainingExample(f"r{i}", "debater", q, f"The answer is {i}.") for i, q in enumerate(questions(64))]


class Traffic:
    """Users who each send a request, wait for it, think, and send the next; latencies by window."""

    def __init__(self, engine: LocalEngine, users: int, think_s: float, new_tokens: int) -> None:
        self.engine, self.users, self.think_s, self.new_tokens = engine, users, think_s, new_tokens
        self.window = "idle"
        self.latencies: dict[str, list[float]] = {w: [] for w in WINDOWS}
        self.stop = threading.Event()

    def user(self, seed: int) -> None:
        rng, prompts = random.Random(seed), questions()
        while not self.stop.is_set():
            window, started = self.window, time.perf_counter()
            self.engine.generate([rng.choice(prompts)], SamplingParams(max_new_tokens=self.new_tokens))
            self.latencies[window].append(time.perf_counter() - started)
            self.stop.wait(rng.expovariate(1 / self.think_s))

    def __enter__(self) -> "Traffic":
        self.threads = [threading.Thread(target=self.user, args=(i,), daemon=True) for i in range(self.users)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def train_for(worker: TrainingWorker, seconds: float, output: Path, engine: LocalEngine | None,
              min_share: float) -> int:
    """Train until ``seconds`` pass (cancelled then); with ``engine``, yield to its traffic. Returns steps made."""
    cancel, steps = threading.Event(), [0]
    timer = threading.Timer(seconds, cancel.set)
    timer.start()
    config = LoraTrainingConfig(max_steps=10_000, dtype="float32")
    yielding = (TrafficYield(lambda: worker.pid, lambda: engine.in_flight > 0, min_share) if engine is not None
                else nullcontext())
    try:
        with yielding:
            worker.train(embedded_model_dir(), examples(), output, role="debater", config=config, cancel=cancel,
                         on_step=lambda step, *_: steps.__setitem__(0, step))
    except TrainingCancelled:
        pass
    finally:
        timer.cancel()
    return steps[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=3, help="rounds of the three windows")
    parser.add_argument("--window-s", type=float, default=120.0)
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--think-s", type=float, default=1.0, help="mean pause between a user's requests")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("results/latency-during-training"))
    args = parser.parse_args()
    settings = DistillerConfig()
    engine = LocalEngine.from_pretrained()
    worker = TrainingWorker(settings.train_threads, settings.train_niceness)
    steps: dict[str, list[int]] = {w: [] for w in WINDOWS[1:]}
    with tempfile.TemporaryDirectory() as scratch, Traffic(engine, args.users, args.think_s, args.new_tokens) as traffic:
        for cycle in range(args.cycles):
            for window in WINDOWS:
                traffic.window = window
                print(f"cycle {cycle + 1}/{args.cycles}: {window}", flush=True)
                if window == "idle":
                    time.sleep(args.window_s)
                else:
                    yielding = engine if window == "training, yielding" else None
                    steps[window].append(train_for(worker, args.window_s, Path(scratch) / f"{cycle}-{len(steps[window])}",
                                                   yielding, settings.min_train_share))
    result = {"settings": {**vars(args), "out": str(args.out), "train_threads": settings.train_threads,
                           "train_niceness": settings.train_niceness, "min_train_share": settings.min_train_share,
                           "serving_dtype": engine.dtype, "half_weights": engine.half_weights_in_use},
              "windows": {}}
    idle_p95 = quantile(traffic.latencies["idle"], 0.95)
    print("| window | requests | p50 s | p95 s | p95 / idle p95 | training steps per window |")
    print("|---|---|---|---|---|---|")
    for window in WINDOWS:
        values = traffic.latencies[window]
        row = {"n": len(values), "p50_s": round(quantile(values, 0.5), 3), "p95_s": round(quantile(values, 0.95), 3),
               "p95_ratio": round(quantile(values, 0.95) / idle_p95, 2), "steps": steps.get(window)}
        result["windows"][window] = row
        print(f"| {window} | {row['n']} | {row['p50_s']} | {row['p95_s']} | {row['p95_ratio']} | "
              f"{statistics.mean(row['steps']) if row['steps'] else '-'} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latency.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'latency.json'}")
    engine.close()


if __name__ == "__main__":
    main()
