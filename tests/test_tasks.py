"""Tasks: generated arithmetic and user JSONL, with disjoint splits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moot.evaluation.tasks import ARITHMETIC_LEVELS, SplitSizes, arithmetic_task, jsonl_task


@pytest.mark.parametrize("level", sorted(ARITHMETIC_LEVELS))
def test_every_level_answers_its_own_questions(level):
    task = arithmetic_task(level, SplitSizes(20, 5, 5), seed=3)
    for problem in task.train:
        expression = problem.question.split("What is ")[1].split("?")[0].replace("the result of ", "")
        assert str(eval(expression)) == problem.answer  # noqa: S307 - our own generated arithmetic


@given(seed=st.integers(0, 10_000), train=st.integers(1, 60), validation=st.integers(1, 30), test=st.integers(1, 30))
@settings(max_examples=30, deadline=None)
def test_splits_never_overlap_and_are_repeatable(seed, train, validation, test):
    sizes = SplitSizes(train, validation, test)
    task = arithmetic_task("sum2", sizes, seed=seed)
    questions = [{p.question for p in task.split(s)} for s in ("train", "validation", "test")]
    assert [len(q) for q in questions] == [train, validation, test]
    assert not (questions[0] & questions[1] or questions[0] & questions[2] or questions[1] & questions[2])
    assert arithmetic_task("sum2", sizes, seed=seed).test == task.test


def test_impossible_requests_are_refused_clearly():
    with pytest.raises(ValueError, match="only 81 distinct"):
        arithmetic_task("sum1", SplitSizes(80, 1, 1))
    with pytest.raises(ValueError, match="unknown arithmetic level 'calculus'"):
        arithmetic_task("calculus")


def test_jsonl_task_reads_dedupes_and_splits(tmp_path):
    path = tmp_path / "capitals.jsonl"
    rows = [{"question": f"What is {i} squared?", "answer": i * i} for i in range(10)] + [{"question": "What is 3 squared?", "answer": 9}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    task = jsonl_task(path, SplitSizes(6, 2, 2))
    assert len({p.question for p in task.train + task.validation + task.test}) == 10
    assert all(p.answer == str(int(p.question.split()[2]) ** 2) for p in task.test)


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok", "answer": 1}\n{"question": "no answer"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        jsonl_task(path)


def test_growing_the_training_split_never_moves_held_out_problems():
    small = arithmetic_task("sum2", SplitSizes(50, 20, 30), seed=7)
    large = arithmetic_task("sum2", SplitSizes(400, 20, 30), seed=7)
    assert small.test == large.test and small.validation == large.validation
    assert small.train == large.train[:50]
