"""Serving LoRA adapters in the engine's compute type: bf16 adapters against float32 ones on a bf16 base.

peft upcasts a bf16 adapter to float32 when it loads one (training needs that), so on a bf16
engine every adapted layer ran a float32 side path and cast between the two; the engine now
keeps adapters in its own compute type. This measures both, side by side in one run, on the
evaluation workload that suffered: 32 second-round debate prompts, 16 new tokens, greedy, each
prompt on one of three adapters (rank 16 on every linear layer, moot's training default), plus
the float32 engine as the reference. The arms alternate, best of ``--repeats``.

Run: ``python bench/adapter_dtype.py``. Writes ``results/adapter-dtype/adapter_dtype.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from moot.nodes import LocalEngine, SamplingParams
from moot.nodes.serving.embedded_model import embedded_model_dir
from moot.training import LoraTrainingConfig
from roofline import debate_round_prompts

ADAPTERS = ("a0", "a1", "a2")


def random_adapters(model_dir: Path, folder: Path) -> list[Path]:
    """Three adapters with moot's default LoRA shape and non-zero updates (so each changes the output)."""
    defaults = LoraTrainingConfig()
    paths = []
    for seed, name in enumerate(ADAPTERS):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        config = LoraConfig(r=defaults.rank, lora_alpha=defaults.alpha, target_modules=defaults.target_modules,
                            init_lora_weights=False)
        get_peft_model(model, config).save_pretrained(folder / name)
        paths.append(folder / name)
    return paths


def set_adapter_dtype(engine: LocalEngine, dtype: torch.dtype) -> None:
    for name, param in engine.model.named_parameters():
        if "lora_" in name:
            param.data = param.data.to(dtype)


def seconds(engine: LocalEngine, prompts: list, new_tokens: int) -> float:
    adapters = [ADAPTERS[i % len(ADAPTERS)] for i in range(len(prompts))]
    started = time.perf_counter()
    engine.generate(prompts, SamplingParams(max_new_tokens=new_tokens), adapters=adapters)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/adapter-dtype"))
    args = parser.parse_args()

    model_dir = embedded_model_dir()
    prompts = debate_round_prompts(args.prompts)
    with tempfile.TemporaryDirectory() as folder:
        paths = random_adapters(model_dir, Path(folder))
        # The adapters are random, made here without a manifest.
        engines = {dtype: LocalEngine.from_pretrained(model_dir, dtype=dtype, allow_unverified_adapters=True)
                   for dtype in ("float32", "bfloat16")}
        for engine in engines.values():
            engine.max_batch = args.prompts
            for name, path in zip(ADAPTERS, paths):
                engine.load_adapter(name, path)
        arms = {"float32 base, float32 adapters": (engines["float32"], torch.float32),
                "bfloat16 base, float32 adapters (peft's upcast)": (engines["bfloat16"], torch.float32),
                "bfloat16 base, bfloat16 adapters (moot now)": (engines["bfloat16"], torch.bfloat16)}
        best = dict.fromkeys(arms, float("inf"))
        for _ in range(args.repeats):
            for arm, (engine, adapter_dtype) in arms.items():
                set_adapter_dtype(engine, adapter_dtype)
                seconds(engine, prompts[:4], 2)  # warm-up in this arm's types
                best[arm] = min(best[arm], seconds(engine, prompts, args.new_tokens))
    reference = best["float32 base, float32 adapters"]
    rows = [{"arm": arm, "seconds": round(s, 2), "speedup_vs_float32": round(reference / s, 2)} for arm, s in best.items()]
    report = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "prompts": args.prompts, "new_tokens": args.new_tokens, "adapters": len(ADAPTERS), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "adapter_dtype.json").write_text(json.dumps(report, indent=2))
    print("| arm | seconds | speed-up vs float32 |\n|---|---|---|")
    for row in rows:
        print(f"| {row['arm']} | {row['seconds']} | {row['speedup_vs_float32']}× |")


if __name__ == "__main__":
    main()
