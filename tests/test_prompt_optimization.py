"""Prompts as parameters: the optimization loop, with a scripted optimizer, on a task a prompt can fix."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel, FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_openai import ChatOpenAI

from moot.loops.improve import ImproveRun
from moot.nodes import SharedModelPool
from moot.selection.prompts import PromptOptimizationConfig, optimizer_model
from test_run_folder import config


class SumsIfToldDigits(BaseChatModel):
    """Answers a sum right only when its system prompt asks for digits (what the optimizer must find)."""

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        system = " ".join(str(m.content) for m in messages if m.type == "system")
        a, b = map(int, re.findall(r"\d+", str(messages[-1].content))[:2])
        text = str(a + b) if "digits" in system.lower() else "a small number"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])

    @property
    def _llm_type(self) -> str:
        return "sums-if-told-digits"


def run_with(optimizer_replies: list[str], tmp_path) -> ImproveRun:
    settings = config(None, tmp_path / "run")
    settings.debate = type(settings.debate)(n_agents=1, n_rounds=1, temperature=0.0)
    settings.train_adapters, settings.gate_problems = False, 2
    settings.gate = type(settings.gate)(min_items=2, ahead_below=0)  # a tie passes here: the story needs it
    settings.prompts = PromptOptimizationConfig(rounds=len(optimizer_replies), batch=3)
    pool = SharedModelPool(SumsIfToldDigits(), {"prompt-optimizer": FakeListChatModel(responses=optimizer_replies)})
    run = ImproveRun(settings, pool)
    run.run()
    return run


def test_a_scripted_optimizer_finds_the_prompt_and_the_held_out_score_rises(tmp_path):
    # round 1 proposes nothing usable; round 2 a prompt the gate drops; round 3 the one that works
    run = run_with(["I am not sure.", "PROMPT: Be kind.", "PROMPT: Reply in digits only."], tmp_path)
    lineage = run.report.prompts
    assert [(e["round"], e["promoted"]) for e in lineage] == [(0, False), (1, True), (2, True)]
    assert lineage[0]["reason"] == "no proposal in the reply"
    # "Be kind." is no worse (0 -> 0), so the gate lets it through; "digits" then beats it
    assert lineage[2]["parent"] == "Be kind." and lineage[2]["gate"]["candidate"] == 1.0
    assert run.prompts() == {"debater-0": "Reply in digits only."}
    scores = {s.name: s.accuracy for s in run.report.scores}
    assert scores["debate (base)"] == 0.0 and scores["debate (iteration 1)"] == 1.0
    # the search's episodes are logged on their own split: never LoRA training data
    searched = run.library.find(run=run.run_id, split="prompt-search")
    assert searched and not [r for r in run.library.find(run=run.run_id, split="train") if "prompt search" in str(r["setting"])]
    # the evaluation's calls carry the promoted prompt as their system message
    test_calls = run.library.find(run=run.run_id, split="test", iteration=1)
    assert test_calls and all(r.messages[0] == {"role": "system", "content": "Reply in digits only."} for r in test_calls)


def test_the_lineage_survives_a_resume(tmp_path):
    run = run_with(["PROMPT: Use digits."], tmp_path)
    resumed = ImproveRun(run.config, SharedModelPool(SumsIfToldDigits()), mode="resume")
    report = resumed.run()  # every phase finished before: each is restored, none redone
    assert resumed.prompts() == {"debater-0": "Use digits."} and report.prompts == run.report.prompts


def test_the_optimizer_is_the_pools_base_model_or_any_openai_compatible_endpoint():
    pool = SharedModelPool(SumsIfToldDigits(), {"prompt-optimizer": FakeListChatModel(responses=["PROMPT: x"])})
    assert optimizer_model(PromptOptimizationConfig(), pool).invoke("hi").content == "PROMPT: x"
    remote = optimizer_model(PromptOptimizationConfig(optimizer_url="http://127.0.0.1:9/v1", optimizer_model="big"), pool)
    assert isinstance(remote, ChatOpenAI) and remote.model_name == "big"
    assert remote.openai_api_base == "http://127.0.0.1:9/v1"  # nothing is sent until it is asked
