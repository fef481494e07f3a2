"""The CPU anchor a user would pick instead: moot's local engine against llama.cpp on the same GGUF file.

llama-cpp-python compiles llama.cpp from source on install (minutes on 2 cores), so it is not
part of moot's set-up; install it in a separate environment by hand, then run, side by side::

    python3 -m venv /tmp/llama-venv && /tmp/llama-venv/bin/pip install llama-cpp-python
    .venv/bin/python bench/llama_cpp_compare.py --llama-python /tmp/llama-venv/bin/python

Both generate greedily for the same second-round debate prompts (16 new tokens): one request at
a time, and 32 requests at once. llama.cpp runs the Q4_1 GGUF as shipped; moot runs the same file
de-quantized, in its ``auto`` dtype. llama-cpp-python's ``Llama`` serves one sequence at a time,
so its 32 requests run one after another. Writes ``results/llama-cpp/compare.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

LLAMA_SIDE = """
import json, sys, time
from llama_cpp import Llama
gguf, prompts, new_tokens = sys.argv[1], json.loads(open(sys.argv[2]).read()), int(sys.argv[3])
llm = Llama(model_path=gguf, n_ctx=1024, n_threads=2, n_batch=512, verbose=False)
def run(messages):
    out = llm.create_chat_completion(messages=messages, max_tokens=new_tokens, temperature=0.0)
    return out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"], out["usage"]["completion_tokens"]
run(prompts[0])
started = time.perf_counter(); single = run(prompts[0]); single_s = time.perf_counter() - started
started = time.perf_counter(); many = [run(p) for p in prompts]; many_s = time.perf_counter() - started
print(json.dumps({"single_generated_tokens_per_s": single[1] / single_s, "single_s": single_s,
                  "concurrent_processed_tokens_per_s": sum(m[0] for m in many) / many_s,
                  "concurrent_generated_tokens_per_s": sum(m[1] for m in many) / many_s, "concurrent_s": many_s}))
"""


def moot_side(prompts: list, new_tokens: int) -> dict:
    from moot.nodes.serving import LocalEngine, SamplingParams

    engine = LocalEngine.from_pretrained()
    params = SamplingParams(max_new_tokens=new_tokens)
    engine.generate(prompts[:1], params)
    started = time.perf_counter()
    (single,) = engine.generate(prompts[:1], params)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    many = engine.generate(prompts, params)
    many_s = time.perf_counter() - started
    return {"dtype": engine.dtype, "single_generated_tokens_per_s": single.completion_tokens / single_s, "single_s": single_s,
            "concurrent_processed_tokens_per_s": sum(c.prompt_tokens + c.completion_tokens for c in many) / many_s,
            "concurrent_generated_tokens_per_s": sum(c.completion_tokens for c in many) / many_s, "concurrent_s": many_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llama-python", required=True, help="Python of an environment with llama-cpp-python")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("results/llama-cpp/compare.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from roofline import debate_round_prompts

    from moot.nodes.serving.embedded_model import gguf_path

    prompts = debate_round_prompts(args.prompts)
    prompt_file = args.out.with_name("prompts.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    prompt_file.write_text(json.dumps(prompts))
    llama = json.loads(subprocess.run([args.llama_python, "-c", LLAMA_SIDE, str(gguf_path()), str(prompt_file),
                                       str(args.new_tokens)], capture_output=True, text=True, check=True).stdout)
    moot = moot_side(prompts, args.new_tokens)
    report = {"prompts": args.prompts, "new_tokens": args.new_tokens, "llama_cpp": llama, "moot": moot}
    args.out.write_text(json.dumps(report, indent=2))
    print("| engine | one request: generated tok/s | 32 at once: processed tok/s | 32 at once: wall s |")
    print("|---|---|---|---|")
    for name, row in (("llama.cpp (Q4_1 GGUF, llama-cpp-python)", llama), (f"moot local engine ({moot['dtype']})", moot)):
        print(f"| {name} | {row['single_generated_tokens_per_s']:.1f} | {row['concurrent_processed_tokens_per_s']:.0f} "
              f"| {row['concurrent_s']:.1f} |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
