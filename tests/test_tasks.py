"""Tasks: generated arithmetic and user files (JSONL, CSV, Parquet) of any answer type, with disjoint splits."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pyarrow
import pyarrow.parquet
import pytest
from hypothesis import given, settings
from fakes import scripted_pool
from hypothesis import strategies as st

from moot.graphs.debate import build_debate_graph, debate_outcome
from moot.loops.improve_config import ImproveConfig

from moot.evaluation.tasks import ARITHMETIC_LEVELS, SplitSizes, arithmetic_task, file_task
from moot.nodes.answers import answer_parser, parse_choice


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


def test_file_task_reads_dedupes_and_splits(tmp_path):
    path = tmp_path / "capitals.jsonl"
    rows = [{"question": f"What is {i} squared?", "answer": i * i} for i in range(10)] + [{"question": "What is 3 squared?", "answer": 9}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    task = file_task(path, SplitSizes(6, 2, 2))
    assert len({p.question for p in task.train + task.validation + task.test}) == 10
    assert all(p.answer == str(int(p.question.split()[2]) ** 2) for p in task.test)


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "ok", "answer": 1}\n{"question": "no answer"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        file_task(path)


def test_growing_the_training_split_never_moves_held_out_problems():
    small = arithmetic_task("sum2", SplitSizes(50, 20, 30), seed=7)
    large = arithmetic_task("sum2", SplitSizes(400, 20, 30), seed=7)
    assert small.test == large.test and small.validation == large.validation
    assert small.train == large.train[:50]


@pytest.mark.parametrize(("answer", "reference", "reply", "wrong"), [
    ("number", "1,024", "So it is 1024.", "It is 1025."),
    ("choice", "(C)", "The answer is C.", "B. The second one"),
    ("yesno", "Yes", "Hmm... yes.", "No, it is not."),
    ("labels:positive,negative,neutral", "Neutral", "I'd call it neutral overall", "negative"),
    ("text", "The Eiffel Tower", "Answer: eiffel tower!", "The Louvre"),
    ("math", r"$\frac{1}{2}$", "The result is 0.5", "0.25"),
    ("math", "x^2+2x+1", r"so $\boxed{(x+1)^2}$", r"$(x-1)^2$"),
])
def test_each_answer_type_reads_a_reply_as_its_reference(answer, reference, reply, wrong):
    parse = answer_parser(answer)
    assert parse(reply) == parse(reference) is not None
    assert parse(wrong) != parse(reference)


def test_a_reply_parser_of_your_own_is_named_module_function():
    parse = answer_parser("json:loads")
    assert parse('"x"') == "x"
    with pytest.raises(ValueError, match="cannot import 'nothing' from 'json'"):
        answer_parser("json:nothing")


def write_quiz(path, rows):
    """The same three-column quiz in the format the suffix names."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_task_files_of_each_format_map_their_fields_and_read_their_answers(tmp_path, suffix):
    rows = [{"id": i, "prompt": f"Question {i}: which option?", "gold": "ABCD"[i % 4]} for i in range(12)]
    path = tmp_path / f"quiz{suffix}"
    write_quiz(path, rows)
    task = file_task(path, SplitSizes(6, 3, 3), answer="choice", question_field="prompt", answer_field="gold")
    problems = task.train + task.validation + task.test
    assert {p.question: p.answer for p in problems} == {r["prompt"]: r["gold"] for r in rows}
    assert task.label == "quiz (answers: choice)"
    with pytest.raises(ValueError, match=r"expected the fields 'question' and 'answer' \(found: id, prompt, gold\)"):
        file_task(path, answer="choice")
    with pytest.raises(ValueError, match=r"does not read as answer type 'number'; choose the task's type with --answer"):
        file_task(path, question_field="prompt", answer_field="gold")


def test_an_oversized_answer_is_refused_with_its_line(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "1" * 5_000_000}) + "\n")
    with pytest.raises(ValueError, match="big.jsonl:1: the answer has 5,000,000 characters"):
        file_task(path)


def test_the_task_answer_type_is_how_every_protocol_reads_its_agents(tmp_path):
    path = tmp_path / "quiz.jsonl"
    write_quiz(path, [{"question": f"Question {i}?", "answer": "ABCD"[i % 4]} for i in range(10)])
    config = ImproveConfig(task=str(path), answer="choice", sizes=SplitSizes(4, 3, 3), gate_problems=0)
    assert config.debate.parser is config.chain.parser is config.critique.parser is parse_choice
    pool = scripted_pool(debater_0=["The answer is (B)."], debater_1=["B. It fits."], debater_2=["I pick C"])
    state = build_debate_graph(pool, replace(config.debate, n_rounds=1)).invoke({"question": "Which?"})
    assert state["final_answer"] == "B"
    assert debate_outcome(state, {"target": "B"})["final_correct"]
    with pytest.raises(ValueError, match="arithmetic answers are numbers"):
        ImproveConfig(answer="choice")
