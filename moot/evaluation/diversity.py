"""How diverse a society's answers are: Multiagent Finetuning's claim is that per-agent training keeps them apart.

Both metrics read the agents' final-round replies to each question, and give one value per
question, so that a report gives their mean with its standard error like any other score:

* :func:`disagreements`: whether the agents' parsed answers are not all the same;
* :func:`pairwise_distances`: the mean cosine distance between the embeddings of every
  two agents' replies (the experience library's offline embedding).
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

Embed = Callable[[list[str]], Sequence[Sequence[float]]]

METRICS = ("disagreement", "embedding distance")
"""The reported names of :func:`disagreements` and :func:`pairwise_distances`, in that order."""


def disagreements(answers: Sequence[Sequence[str | None]]) -> list[float]:
    """Per question with two or more agents: 1.0 where they did not all give the same answer, else 0.0.

    Examples:
        >>> disagreements([["7", "7", "7"], ["7", "8", "7"], ["5", None, "5"], ["4"]])
        [0.0, 1.0, 1.0]
    """
    return [float(len(set(a)) > 1) for a in answers if len(a) > 1]


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """1 minus the cosine similarity.

    Examples:
        >>> cosine_distance([1.0, 0.0], [0.0, 1.0]), round(cosine_distance([1.0, 1.0], [2.0, 2.0]), 9)
        (1.0, 0.0)
        >>> cosine_distance([0.1, 0.7], [0.1, 0.7]) >= 0.0
        True
    """
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    # Clamped: rounding puts identical vectors a hair below 0.
    return min(2.0, max(0.0, 1.0 - dot / norm)) if norm else 0.0


def pairwise_distances(replies: Sequence[Sequence[str]], embed: Embed) -> list[float]:
    """Per question with two or more replies: the mean cosine distance between every two agents' replies.

    Examples:
        >>> table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 0.0]}
        >>> embed = lambda texts: [table[t] for t in texts]
        >>> pairwise_distances([["a", "b"], ["a", "c"], ["a"]], embed)
        [1.0, 0.0]
    """
    per_question = []
    for texts in replies:
        if len(texts) < 2:
            continue
        vectors = list(embed(list(texts)))
        pairs = list(itertools.combinations(range(len(vectors)), 2))
        per_question.append(sum(cosine_distance(vectors[i], vectors[j]) for i, j in pairs) / len(pairs))
    return per_question
