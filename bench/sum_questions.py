"""The two-digit sums the training benches train on: chat messages and the answer, from a fixed seed."""

from __future__ import annotations

import random


def sum_questions(n: int, seed: int = 0) -> list[tuple[list[dict[str, str]], str]]:
    """``n`` questions "What is a + b?" with two-digit a and b, as chat messages, each with its answer."""
    rng = random.Random(seed)
    questions = []
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        questions.append(([{"role": "user", "content": f"What is {a} + {b}? Reply with the number only."}], str(a + b)))
    return questions
