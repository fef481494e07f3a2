"""How diverse a society's answers are: Multiagent Finetuning's claim is that per-agent training keeps them apart.

Both metrics read the agents' final-round replies to each question:

* :func:`disagreement_rate`: how often the agents' parsed answers are not all the same;
* :func:`mean_pairwise_distance`: the mean cosine distance between the embeddings of every
  two agents' replies (the experience library's offline embedding), averaged over questions.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

Embed = Callable[[list[str]], Sequence[Sequence[float]]]


def disagreement_rate(answers: Sequence[Sequence[str | None]]) -> float:
    """Share of questions whose agents did not all give the same answer (one list of answers per question).

    Example:
        >>> disagreement_rate([["7", "7", "7"], ["7", "8", "7"], ["5", None, "5"]])
        0.6666666666666666
    """
    counted = [a for a in answers if len(a) > 1]
    return sum(len(set(a)) > 1 for a in counted) / len(counted) if counted else 0.0


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """1 minus the cosine similarity.

    Example:
        >>> cosine_distance([1.0, 0.0], [0.0, 1.0]), round(cosine_distance([1.0, 1.0], [2.0, 2.0]), 9)
        (1.0, 0.0)
        >>> cosine_distance([0.1, 0.7], [0.1, 0.7]) >= 0.0
        True
    """
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    # Clamped: rounding puts identical vectors a hair below 0.
    return min(2.0, max(0.0, 1.0 - dot / norm)) if norm else 0.0


def mean_pairwise_distance(replies: Sequence[Sequence[str]], embed: Embed) -> float:
    """Mean over questions of the mean cosine distance between every two agents' replies.

    Example:
        >>> table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 0.0]}
        >>> embed = lambda texts: [table[t] for t in texts]
        >>> mean_pairwise_distance([["a", "b"], ["a", "c"]], embed)   # (1.0 + 0.0) / 2
        0.5
    """
    per_question = []
    for texts in replies:
        if len(texts) < 2:
            continue
        vectors = list(embed(list(texts)))
        pairs = list(itertools.combinations(range(len(vectors)), 2))
        per_question.append(sum(cosine_distance(vectors[i], vectors[j]) for i, j in pairs) / len(pairs))
    return sum(per_question) / len(per_question) if per_question else 0.0
