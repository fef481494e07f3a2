"""Tasks: problems with known answers, split into train / validation / test that never overlap.

No task is downloaded: arithmetic is generated from a seed, and users bring a JSONL, CSV
or Parquet file whose answers are numbers, choice letters, labels, text or mathematics.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

from moot.nodes.answers import MAX_ANSWER_CHARS, AnswerParser, answer_parser, parse_number, safe_parse

Split = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Problem:
    """One question with its reference answer (already normalized by the task's parser)."""

    id: str
    question: str
    answer: str


@dataclass
class Task:
    """A named set of problems in three disjoint splits, with the parser for its answers
    (``answer_type`` names it; see :func:`moot.nodes.answers.answer_parser`)."""

    name: str
    train: list[Problem]
    validation: list[Problem]
    test: list[Problem]
    parse_answer: AnswerParser = parse_number
    description: str = ""
    answer_type: str = "number"

    @property
    def label(self) -> str:
        """The task's name for reports, with its answer type where that is not plain numbers."""
        return self.name if self.answer_type == "number" else f"{self.name} (answers: {self.answer_type})"

    def split(self, name: Split) -> list[Problem]:
        return {"train": self.train, "validation": self.validation, "test": self.test}[name]

    def is_correct(self, answer: str | None, problem: Problem) -> bool:
        return answer is not None and answer == problem.answer


# Difficulty levels: a generator of (question text, exact value) from a random source.
_INSTRUCTION = "Reply with the number only."


def _sum2(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    return f"What is {a} + {b}? {_INSTRUCTION}", a + b


def _sum1(rng: random.Random) -> tuple[str, int]:
    a, b = rng.randint(1, 9), rng.randint(1, 9)
    return f"What is {a} + {b}? {_INSTRUCTION}", a + b


def _sub2(rng: random.Random) -> tuple[str, int]:
    a, b = sorted((rng.randint(10, 99), rng.randint(10, 99)), reverse=True)
    return f"What is {a} - {b}? {_INSTRUCTION}", a - b


def _mixed3(rng: random.Random) -> tuple[str, int]:
    a, b, c = (rng.randint(0, 30) for _ in range(3))
    return f"What is the result of {a}+{b}*{c}? {_INSTRUCTION}", a + b * c


def _maf6(rng: random.Random) -> tuple[str, int]:
    # The form used by Multiagent Finetuning (Subramaniam et al. 2025).
    a, b, c, d, e, f = (rng.randint(0, 30) for _ in range(6))
    return f"What is the result of {a}+{b}*{c}+{d}-{e}*{f}? {_INSTRUCTION}", a + b * c + d - e * f


ARITHMETIC_LEVELS: dict[str, tuple[Callable[[random.Random], tuple[str, int]], int]] = {
    # level: (generator, number of distinct problems it can produce, to refuse impossible splits)
    "sum1": (_sum1, 81),
    "sum2": (_sum2, 90 * 90),
    "sub2": (_sub2, 90 * 91 // 2),
    "mixed3": (_mixed3, 31**3),
    "maf6": (_maf6, 31**6),
}
DEFAULT_LEVEL = "sum2"


@dataclass(frozen=True)
class SplitSizes:
    """Problems per split. The defaults are the demo's: 120 training problems fit a 20-minute
    run on 2 cores; 100 validation and 100 test problems give a standard error near 0.04.

    Attributes:
        train: Problems played for training data.
        validation: Problems for tuning and for the promotion gate; never trained on.
        test: Held-out problems the report scores; never trained on or tuned against.
    """

    train: int = 120
    validation: int = 100
    test: int = 100

    @property
    def total(self) -> int:
        return self.train + self.validation + self.test


def _split(problems: list[Problem], sizes: SplitSizes) -> dict[str, list[Problem]]:
    # Test first, then validation, then train: a larger training split never moves a
    # problem into (or out of) the held-out splits.
    test_end = sizes.test
    validation_end = test_end + sizes.validation
    return {
        "test": problems[:test_end],
        "validation": problems[test_end:validation_end],
        "train": problems[validation_end : validation_end + sizes.train],
    }


def arithmetic_task(level: str = DEFAULT_LEVEL, sizes: SplitSizes = SplitSizes(), seed: int = 0) -> Task:
    """Generated arithmetic at a graded difficulty, split without overlap.

    Levels, easiest first, with the embedded model's greedy score on 100 test problems:
    ``sum1`` (one-digit sums), ``sum2`` (two-digit sums; 0.16-0.19, so gains can show),
    ``sub2`` (two-digit differences, never negative; 0.07), ``mixed3`` (``a+b*c``, numbers
    0-30; 0.03), ``maf6`` (Multiagent Finetuning's ``a+b*c+d-e*f``, numbers 0-30).

    Examples:
        >>> task = arithmetic_task("sum2", SplitSizes(5, 2, 3), seed=1)
        >>> len(task.train), len(task.validation), len(task.test)
        (5, 2, 3)
        >>> {p.question for p in task.train} & {p.question for p in task.test}
        set()
    """
    if level not in ARITHMETIC_LEVELS:
        raise ValueError(f"unknown arithmetic level {level!r}; choose one of {sorted(ARITHMETIC_LEVELS)}")
    generate, capacity = ARITHMETIC_LEVELS[level]
    if sizes.total > capacity:
        raise ValueError(f"level {level!r} has only {capacity} distinct problems; asked for {sizes.total}")
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    while len(seen) < sizes.total:
        question, value = generate(rng)
        seen.setdefault(question, value)
    problems = [Problem(f"{level}-{i}", q, str(v)) for i, (q, v) in enumerate(seen.items())]
    return Task(name=f"arithmetic-{level}", description=f"arithmetic level {level}, seed {seed}", **_split(problems, sizes))


MAX_QUESTION_CHARS = 8000
"""Longest question a task file may hold: about 2,000 tokens, the engine's prompt limit."""


TASK_FILE_FORMATS = (".jsonl", ".csv", ".parquet")
"""The task files moot reads, by suffix: one problem per JSON line, CSV row or Parquet row."""


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, row)`` for each problem in a task file; ``where`` names the file and line or row."""
    if path.suffix == ".parquet":
        import pyarrow.parquet

        try:
            table = pyarrow.parquet.read_table(path)
        except pyarrow.ArrowException as error:
            raise ValueError(f"{path} is not a readable Parquet file ({error})") from error
        for number, row in enumerate(table.to_pylist(), start=1):
            yield f"{path}: row {number}", row
        return
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text ({error})") from error
    if path.suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            yield f"{path}:{reader.line_num}", row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not a JSON object ({error})") from error


def file_task(path: str | Path, sizes: SplitSizes | None = None, seed: int = 0, answer: str = "number",
              question_field: str = "question", answer_field: str = "answer",
              max_question_chars: int = MAX_QUESTION_CHARS) -> Task:
    """A task from the user's file: JSONL, CSV or Parquet (by suffix), one problem per row.

    Every reference answer is read with the task's answer type (see
    :func:`moot.nodes.answers.answer_parser`), exactly as the agents' replies will be, and a
    reference that does not read as that type is refused: a task that could never be scored
    right fails here, not after a run. Duplicate questions are dropped before shuffling, so
    splits never share a question. Without ``sizes`` the file is split 60 / 20 / 20.

    Args:
        path: The file.
        sizes: Problems per split.
        seed: Seeds the shuffle before the split.
        answer: The answer type: ``number``, ``choice``, ``yesno``, ``text``, ``math``,
            ``labels:a,b,c`` or ``module:function``.
        question_field: The column (or JSON key) holding the question.
        answer_field: The column (or JSON key) holding the reference answer.
        max_question_chars: Longest question accepted.

    Raises:
        ValueError: naming the file, and the line or row that is malformed, lacks a field,
            holds a question longer than ``max_question_chars`` or an answer that does not
            read as ``answer``.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "quiz.csv"
        >>> _ = path.write_text("prompt,label\\nIs water wet?,Yes\\nIs fire cold?,no\\nIs ice cold?,YES\\n")
        >>> task = file_task(path, SplitSizes(1, 1, 1), answer="yesno", question_field="prompt", answer_field="label")
        >>> sorted(p.answer for p in task.train + task.validation + task.test)
        ['no', 'yes', 'yes']
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--task {path} is a folder; give a task file ({', '.join(TASK_FILE_FORMATS)}) or 'arithmetic'")
    if path.suffix not in TASK_FILE_FORMATS:
        raise ValueError(f"--task {path}: moot reads {', '.join(TASK_FILE_FORMATS)} task files, not {path.suffix or 'no suffix'}")
    parser = answer_parser(answer)
    rows: dict[str, str] = {}
    for where, row in _rows(path):
        if not isinstance(row, dict) or question_field not in row or answer_field not in row:
            fields = ", ".join(map(str, row)) if isinstance(row, dict) else type(row).__name__
            raise ValueError(f"{where}: expected the fields {question_field!r} and {answer_field!r} (found: {fields}); "
                             f"name yours with --question-field / --answer-field")
        question, reference = str(row[question_field]), str(row[answer_field])
        if len(question) > max_question_chars:
            raise ValueError(f"{where}: the question has {len(question):,} characters; the limit is "
                             f"{max_question_chars:,} (max_question_chars)")
        if len(reference) > MAX_ANSWER_CHARS:
            raise ValueError(f"{where}: the answer has {len(reference):,} characters; the limit is {MAX_ANSWER_CHARS:,}")
        canonical = safe_parse(parser, reference)
        if canonical is None:
            raise ValueError(f"{where}: the answer {reference[:40]!r} does not read as answer type {answer!r}; "
                             f"choose the task's type with --answer")
        rows.setdefault(question, canonical)
    items = list(rows.items())
    random.Random(seed).shuffle(items)
    if sizes is None:
        n_train, n_val = int(len(items) * 0.6), int(len(items) * 0.2)
        sizes = SplitSizes(n_train, n_val, len(items) - n_train - n_val)
    if sizes.total > len(items):
        raise ValueError(f"{path} has {len(items)} distinct questions; the splits ask for {sizes.total}")
    problems = [Problem(f"{path.stem}-{i}", q, a) for i, (q, a) in enumerate(items)]
    return Task(name=path.stem, parse_answer=parser, answer_type=answer, description=f"user file {path}",
                **_split(problems, sizes))
