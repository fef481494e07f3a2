"""Which prompts of a batch share a prefix that can be prefilled once.

Requests that run through the same adapter and open with the same tokens (a debate's agents
on one question, an app's fixed system prompt, the same prompt sampled several times) have
the same keys and values over that prefix. The batcher prefills each shared prefix once, copies
its cache to the rows that share it, then prefills every row's own rest in one more pass.

A prefix is shared only by rows of one adapter (a LoRA on the attention projections changes
the keys and values), and it stops one token short of the shortest prompt, so every row still
has a token of its own whose logits give its first reply token.

Examples:
    >>> plan = plan_prefixes([[1, 2, 3, 4, 5], [1, 2, 3, 4, 6], [9, 9, 9]], [None, None, None], min_tokens=2)
    >>> plan.row_group, [g.length for g in plan.groups], plan.saved_tokens
    ([0, 0, 1], [4, 2], 4)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import torch

KeysValues = list[tuple[torch.Tensor, torch.Tensor]]
"""Per layer, the keys and values of one prefix: tensors of shape (1, heads, tokens, head size)."""


@dataclass(frozen=True)
class PrefixGroup:
    """Rows that share a prefix: its length, and the row whose prompt holds it."""

    first_row: int
    length: int


@dataclass(frozen=True)
class PrefixPlan:
    """Each row's group, and the groups' prefixes.

    Attributes:
        groups: The shared prefixes, prefilled once each.
        row_group: For each row, the index of its group.
        saved_tokens: Prompt tokens not computed thanks to the sharing.
    """

    groups: list[PrefixGroup]
    row_group: list[int]
    saved_tokens: int


def plan_prefixes(prompts: Sequence[list[int]], adapters: Sequence[str | None], min_tokens: int) -> PrefixPlan | None:
    """Group the rows that share at least ``min_tokens`` leading tokens (and an adapter); None when nothing is shared.

    Per adapter, the prompts are sorted, so that those sharing the longest prefixes are
    neighbours, and cut into runs wherever two neighbours share fewer than a threshold; the
    threshold that saves the most tokens wins. So a batch of several debates shares each
    debate's question, not only the system prompt every debate opens with. A group's prefix
    is its longest common prefix, up to one token short of its shortest prompt; a row in a
    group of its own gets its whole prompt but the last token.
    """
    by_adapter: dict[str | None, list[int]] = {}
    for row, adapter in enumerate(adapters):
        by_adapter.setdefault(adapter, []).append(row)
    runs: list[tuple[list[int], int]] = []  # (rows, prefix length)
    for rows in by_adapter.values():
        runs.extend(_best_runs(sorted(rows, key=lambda r: prompts[r]), prompts, min_tokens))
    groups, row_group, saved = [], [0] * len(prompts), 0
    for rows, length in runs:
        if len(rows) > 1:
            saved += (len(rows) - 1) * length
        for r in rows:
            row_group[r] = len(groups)
        groups.append(PrefixGroup(rows[0], length))
    if not saved or any(group.length < 1 for group in groups):  # a one-token prompt has no prefix to split off
        return None
    return PrefixPlan(groups, row_group, saved)


def solo_plan(prompts: Sequence[list[int]]) -> PrefixPlan | None:
    """Every row a group of its own, its prefix all its prompt but the last token (None if a prompt is one token)."""
    if any(len(p) < 2 for p in prompts):
        return None
    return PrefixPlan([PrefixGroup(r, len(p) - 1) for r, p in enumerate(prompts)], list(range(len(prompts))), 0)


class PrefixCache:
    """The keys and values of recent prefixes, per adapter, for requests that arrive later.

    A later prompt that opens with the same tokens as a stored prefix (an app's system prompt
    and its template, a debate's question) starts from the stored keys and values over the
    tokens they have in common. The least recently used prefix is dropped past ``max_entries``.

    Examples:
        >>> cache = PrefixCache(max_entries=2, min_tokens=2)
        >>> cache.store(None, [1, 2, 3, 4], [(torch.zeros(1, 1, 4, 2), torch.zeros(1, 1, 4, 2))])
        >>> length, layers = cache.lookup(None, [1, 2, 3, 9, 9])
        >>> length, layers[0][0].shape[2], cache.lookup("other-adapter", [1, 2, 3])[0]
        (3, 3, 0)
    """

    def __init__(self, max_entries: int = 16, min_tokens: int = 16) -> None:
        self.max_entries, self.min_tokens = max_entries, min_tokens
        self._entries: OrderedDict[tuple[str | None, tuple[int, ...]], KeysValues] = OrderedDict()
        self._lock = threading.Lock()  # the engine's thread reads and writes; a load or unload forgets

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, adapter: str | None, tokens: list[int]) -> tuple[int, KeysValues | None]:
        """The longest stored run of ``tokens``' first tokens (at least ``min_tokens``), and its keys and values."""
        best, found = 0, None
        with self._lock:
            for key in self._entries:
                if key[0] == adapter:
                    shared = len(os.path.commonprefix([key[1], tuple(tokens)]))
                    if shared > best:
                        best, found = shared, key
            if found is None or best < self.min_tokens:
                return 0, None
            self._entries.move_to_end(found)
            return best, [(k[:, :, :best], v[:, :, :best]) for k, v in self._entries[found]]

    def store(self, adapter: str | None, tokens: list[int], layers: KeysValues) -> None:
        """Keep ``layers`` as the keys and values of ``tokens`` through ``adapter``."""
        if len(tokens) < self.min_tokens or not self.max_entries:
            return
        with self._lock:
            self._entries[(adapter, tuple(tokens))] = layers
            self._entries.move_to_end((adapter, tuple(tokens)))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, adapter: str | None) -> None:
        """Drop the prefixes of ``adapter`` (it was unloaded, or another adapter takes its name)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == adapter]:
                del self._entries[key]


def _best_runs(order: list[int], prompts: Sequence[list[int]], min_tokens: int) -> list[tuple[list[int], int]]:
    """Rows in prompt order cut into runs (with their prefix lengths) that save the most tokens."""
    shared = [len(os.path.commonprefix([prompts[a], prompts[b]])) for a, b in zip(order, order[1:])]

    def cut(threshold: int) -> list[tuple[list[int], int]]:
        runs, start = [], 0
        for i in range(len(order)):
            if i == len(order) - 1 or shared[i] < threshold:
                rows = order[start:i + 1]
                shortest = min(len(prompts[r]) for r in rows) - 1
                runs.append((rows, min(min(shared[start:i], default=shortest), shortest)))
                start = i + 1
        return [(rows, length) if len(rows) == 1 or length >= min_tokens else (rows, -1) for rows, length in runs]

    def saving(runs: list[tuple[list[int], int]]) -> int:
        return sum((len(rows) - 1) * length for rows, length in runs if len(rows) > 1 and length > 0)

    candidates = [cut(t) for t in sorted(set(shared)) if t >= min_tokens]
    best = max(candidates, key=saving, default=[])
    if not best or not saving(best):
        return [([r], len(prompts[r]) - 1) for r in order]
    runs = []
    for rows, length in best:  # a run that shares too little is split into rows of their own
        runs.extend([([r], len(prompts[r]) - 1) for r in rows] if length < 0 else [(rows, length)])
    return runs
