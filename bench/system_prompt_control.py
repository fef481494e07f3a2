"""Control for the prompt-optimization result: does *any* system prompt help the embedded model?

SmolLM2's chat template inserts its own system prompt ("You are a helpful AI assistant named
SmolLM...") when a conversation has none, so a searched prompt replaces that as well as
adding its words. This scores one greedy agent on the prompts-vs-lora experiment's 100 test
problems (seed 0) under: no system prompt (the template's default), a neutral one, and the
prompt the search kept.

    python bench/system_prompt_control.py      # writes results/prompts-vs-lora/system_prompt_control.json
"""

from __future__ import annotations

import json
from pathlib import Path

from moot.promotion.gate import TaskGate
from moot.nodes import DebateConfig, LocalEngine, LocalModelPool
from moot.nodes.role_prompts import PromptedPool
from moot.protocols import DEBATE
from moot.evaluation.report import mean_stderr
from moot.evaluation.tasks import SplitSizes, arithmetic_task

KEPT = Path("runs/prompts-vs-lora/optimized-prompts/seed0/report.json")


def main() -> None:
    kept = next(e["text"] for e in json.loads(KEPT.read_text())["prompts"] if e["promoted"])
    prompts = {"none (the template's default)": None, "neutral: 'You are a helpful assistant.'": "You are a helpful assistant.",
               "the searched prompt": kept}
    task = arithmetic_task("sum2", SplitSizes(train=60, validation=50, test=100), seed=0)
    pool = LocalModelPool(LocalEngine.from_pretrained(dtype="float32"))
    views = [PromptedPool(pool, {"debater-0": p} if p else {}) for p in prompts.values()]
    scores = TaskGate(DEBATE, DebateConfig(n_agents=1, n_rounds=1, temperature=0.0), task.test, 32).score(views)
    rows = {name: dict(zip(("accuracy", "stderr"), (round(x, 3) for x in mean_stderr(s)))) | {"n": len(s)}
            for name, s in zip(prompts, scores)}
    out = Path("results/prompts-vs-lora/system_prompt_control.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"kept_prompt": kept, "rows": rows}, indent=1))
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
