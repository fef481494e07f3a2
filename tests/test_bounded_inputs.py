"""No input can make the engine or the task loader take more than a set budget."""

from __future__ import annotations

import json

import pytest

from moot.nodes import LocalEngine, SamplingParams
from moot.evaluation.tasks import file_task

LONG = [{"role": "user", "content": "word " * 500}]


def test_an_overlong_prompt_is_refused_or_truncated_as_configured(tiny_model_dir, caplog):
    refusing = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32", max_prompt_tokens=64)
    with pytest.raises(ValueError, match="at most 64 \\(max_prompt_tokens\\)"):
        refusing.generate([LONG])
    truncating = LocalEngine(refusing.model, refusing.tokenizer, max_prompt_tokens=64, overlong="truncate")
    (completion,) = truncating.generate([LONG], SamplingParams(max_new_tokens=2))
    assert completion.prompt_tokens == 64 and "truncated" in caplog.text
    with pytest.raises(ValueError, match="max_new_tokens_limit"):
        refusing.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=10**6))
    assert refusing.generate([[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=2))  # still serving


def test_the_task_loader_refuses_what_it_cannot_hold(tmp_path):
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "2"}) + "\n"
                    + json.dumps({"question": "x" * 100_000, "answer": "1"}) + "\n")
    with pytest.raises(ValueError, match="huge.jsonl:2: the question has 100,000 characters"):
        file_task(huge)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"question": "caf\xe9", "answer": "1"}\n'.encode("latin-1"))
    with pytest.raises(ValueError, match="latin.jsonl is not UTF-8"):
        file_task(latin)
    with pytest.raises(ValueError, match="is a folder"):
        file_task(tmp_path)
