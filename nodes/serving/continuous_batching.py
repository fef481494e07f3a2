"""Continuous batching for the local engine: requests join and leave the running batch between decode steps.

With one padded ``generate`` call per batch, a batch runs until its longest row is done and
a new request waits for the whole batch. Here a decode loop keeps one batched KV cache:

* new requests are prefilled together and merged into the running batch (the shorter of
  the two caches is left-padded to the other's length);
* every step decodes one token for every row, each row with its own adapter (peft's
  ``adapter_names``) and its own sampling settings and random generator;
* a finished row leaves at once, frees its slot and resolves its future; columns that
  only padding still occupies are trimmed.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .constrained_decoding import RowConstraint
from .generation import Completion, GenerationRequest, cut_at_stop, reply_text
from .half_weights import decoding
from .prefix_sharing import KeysValues, PrefixPlan, plan_prefixes, solo_plan

if TYPE_CHECKING:
    from .local_engine import LocalEngine


@dataclass
class _Row:
    request: GenerationRequest
    prompt_tokens: int
    generator: torch.Generator | None
    tokens: list[int] = field(default_factory=list)
    constraint: RowConstraint | None = None

    def add(self, token: int) -> None:
        self.tokens.append(token)
        if self.constraint is not None:
            self.constraint.advance(token)
        if self.request.on_token is not None:
            self.request.on_token(token)


def _sample(logits: torch.Tensor, rows: list[_Row]) -> list[int]:
    """One next token per row (within its grammar, if it has one): argmax when greedy, else
    temperature and nucleus sampling."""
    if any(row.constraint is not None for row in rows):
        logits = logits.float()  # a copy: the masks are applied in place
        for i, row in enumerate(rows):
            if row.constraint is not None:
                row.constraint.constrain(logits[i])
    chosen = logits.argmax(dim=-1).tolist()
    for i, row in enumerate(rows):
        params = row.request.params
        if params.temperature <= 0:
            continue
        probs = torch.softmax(logits[i].float() / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            keep = sorted_probs.cumsum(0) - sorted_probs < params.top_p  # always keeps the top token
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_probs[keep])
        chosen[i] = int(torch.multinomial(probs, 1, generator=row.generator))
    return chosen


def _left_pad(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


class ContinuousBatcher:
    """The running batch of one engine: its rows, their KV cache and attention mask."""

    def __init__(self, engine: "LocalEngine") -> None:
        self.engine = engine
        self.rows: list[_Row] = []
        self.cache: Any = None
        self.mask = torch.zeros(0, 0, dtype=torch.long)
        self.pending = torch.zeros(0, 1, dtype=torch.long)  # each row's last sampled token, not yet in the cache

    def run(self, requests: "queue.Queue[GenerationRequest | None]") -> None:
        """Serve until a ``None`` arrives (or the engine lets an idle worker end): admit what is
        queued, decode one step, retire finished rows.

        After the ``None``, the rows already admitted are finished and the loop returns.
        """
        closing = False
        while not closing or self.rows:
            waiting: list[GenerationRequest] = []
            while not closing and len(self.rows) + len(waiting) < self.engine.max_batch:
                # Idle: block for the first request, then gather what arrives with it, so that
                # requests sent together are prefilled together. Running: take what is queued.
                try:
                    if self.rows:
                        request = requests.get_nowait()
                    elif waiting:
                        request = requests.get(timeout=self.engine.gather_window_s)
                    else:
                        request = self.engine.next_request(requests)
                except queue.Empty:
                    break
                if request is None:
                    closing = True
                else:
                    waiting.append(request)
            if waiting:
                try:
                    self._admit(waiting)
                except BaseException as error:  # noqa: BLE001 - handed to the callers it concerns
                    for request in waiting:
                        if not request.future.done():
                            request.future.set_exception(error)
            if self.rows:
                try:
                    self._step()
                except BaseException as error:  # noqa: BLE001 - the batch state is unknown now
                    for row in self.rows:
                        row.request.future.set_exception(error)
                    self.rows, self.cache = [], None

    def _forward(self, rows: list[_Row], **inputs: Any) -> Any:
        # Only the last position's logits are sampled from; the LM head over a whole prompt
        # would cost as much as the rest of the prefill.
        return self.engine.forward([row.request.adapter for row in rows], **inputs, use_cache=True, logits_to_keep=1)

    def _admit(self, requests: list["GenerationRequest"]) -> None:
        engine = self.engine
        prompts = [r.prompt_ids for r in requests]
        rows = [_Row(r, len(r.prompt_ids), torch.Generator().manual_seed(r.params.seed) if r.params.seed is not None else None,
                     constraint=RowConstraint(r.params.grammar, engine.ll_tokenizer) if r.params.grammar else None)
                for r in requests]
        output, mask, computed = self._prefill(rows, prompts)
        engine.generate_calls += 1
        engine.prefill_tokens += computed
        engine.prefill_tokens_saved += sum(map(len, prompts)) - computed
        self._merge(rows, output.cache, mask, _sample(output.logits[:, -1, :], rows))
        self._retire()

    def _prefill(self, rows: list[_Row], prompts: list[list[int]]) -> tuple[Any, torch.Tensor, int]:
        """The new rows' prompts through the model; returns the output (cache, last logits), the
        attention mask and the prompt tokens computed.

        With prefix sharing on (:mod:`.prefix_sharing`), each group's prefix is computed once,
        on top of what the prefix cache holds of it, and each row's rest in a second pass;
        with nothing to share or reuse, all in one pass, whose prefixes are then cached.
        """
        engine = self.engine
        adapters = [row.request.adapter for row in rows]
        plan = None
        if engine.min_shared_prefix:
            plan = plan_prefixes(prompts, adapters, engine.min_shared_prefix) or solo_plan(prompts)
        hits = [engine.prefix_cache.lookup(adapters[g.first_row], prompts[g.first_row][:g.length])
                for g in plan.groups] if plan else []
        if plan is None or (not plan.saved_tokens and not any(length for length, _ in hits)):
            return self._prefill_at_once(rows, prompts, cache_prefixes=plan is not None)
        return self._prefill_shared(rows, prompts, plan, hits)

    def _prefill_at_once(self, rows: list[_Row], prompts: list[list[int]], cache_prefixes: bool) -> tuple[Any, torch.Tensor, int]:
        from transformers import DynamicCache

        inputs = self.engine.pad(prompts)
        mask = inputs["attention_mask"]
        output = self._forward(rows, input_ids=inputs["input_ids"], attention_mask=mask,
                               position_ids=(mask.cumsum(-1) - 1).clamp(min=0), cache=DynamicCache())
        if cache_prefixes:
            self._cache_prefixes([(row.request.adapter, prompt[:-1]) for row, prompt in zip(rows, prompts)],
                                 output.cache, mask)
        return output, mask, sum(map(len, prompts))

    def _prefill_shared(self, rows: list[_Row], prompts: list[list[int]], plan: PrefixPlan,
                        hits: list[tuple[int, KeysValues | None]]) -> tuple[Any, torch.Tensor, int]:
        from transformers import DynamicCache

        engine = self.engine
        groups = plan.groups
        # Pass 1, one row per group through the group's adapter: [cached part][the rest of the prefix],
        # each part left-padded to the longest.
        cached_width = max(length for length, _ in hits)
        cache, cached_mask = DynamicCache(), torch.zeros(len(groups), cached_width, dtype=torch.long)
        if cached_width:
            found = next(layers for _, layers in hits if layers)
            for layer, (keys, _) in enumerate(found):
                nothing = (keys[:, :, :0],) * 2  # a group with nothing cached: all padding
                padded = [[_left_pad(t, cached_width, 2) for t in (layers[layer] if layers else nothing)]
                          for _, layers in hits]
                cache.update(torch.cat([k for k, _ in padded]), torch.cat([v for _, v in padded]), layer)
            for g, (length, _) in enumerate(hits):
                cached_mask[g, cached_width - length:] = 1
        heads = engine.pad([prompts[g.first_row][length:g.length] for g, (length, _) in zip(groups, hits)])
        head_mask = torch.cat([cached_mask, heads["attention_mask"]], dim=1)
        computed = sum(g.length - length for g, (length, _) in zip(groups, hits))
        if heads["input_ids"].shape[1]:
            cache = engine.forward([rows[g.first_row].request.adapter for g in groups], input_ids=heads["input_ids"],
                                   attention_mask=head_mask,
                                   position_ids=(head_mask.cumsum(-1) - 1).clamp(min=0)[:, cached_width:],
                                   cache=cache, use_cache=True, logits_to_keep=1).cache
        self._cache_prefixes([(rows[g.first_row].request.adapter, prompts[g.first_row][:g.length]) for g in groups],
                             cache, head_mask)
        # Each group's cache copied to its rows; pass 2: each row's own rest (its padding sits
        # between its prefix and its rest, masked out).
        index = torch.tensor(plan.row_group, dtype=torch.long)
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        rests = engine.pad([prompt[groups[g].length:] for prompt, g in zip(prompts, plan.row_group)])
        mask = torch.cat([head_mask[index], rests["attention_mask"]], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, head_mask.shape[1]:]
        output = self._forward(rows, input_ids=rests["input_ids"], attention_mask=mask, position_ids=positions,
                               cache=cache)
        return output, mask, computed + sum(len(p) - groups[g].length for p, g in zip(prompts, plan.row_group))

    def _cache_prefixes(self, prefixes: list[tuple[str | None, list[int]]], cache: Any, mask: torch.Tensor) -> None:
        """Keep the keys and values of row i's real tokens, ``prefixes[i]`` (adapter, tokens), in the engine's
        prefix cache. Only the rows the cache would keep are copied: the last ``max_entries`` long enough to store."""
        store = self.engine.prefix_cache
        kept = [(row, adapter, tokens) for row, (adapter, tokens) in enumerate(prefixes) if len(tokens) >= store.min_tokens]
        for row, adapter, tokens in kept[len(kept) - store.max_entries:] if store.max_entries else []:
            real = mask[row] == 1
            store.store(adapter, tokens, [(layer.keys[row:row + 1, :, real][:, :, :len(tokens)].clone(),
                                           layer.values[row:row + 1, :, real][:, :, :len(tokens)].clone())
                                          for layer in cache.layers])

    def _merge(self, rows: list[_Row], cache: Any, mask: torch.Tensor, first: list[int]) -> None:
        for row, token in zip(rows, first):
            row.add(token)
        pending = torch.tensor(first, dtype=torch.long).unsqueeze(1)
        if not self.rows:
            self.rows, self.cache, self.mask, self.pending = rows, cache, mask, pending
            return
        length = max(self.mask.shape[1], mask.shape[1])
        for old, new in zip(self.cache.layers, cache.layers):
            old.keys = torch.cat([_left_pad(old.keys, length, 2), _left_pad(new.keys, length, 2)])
            old.values = torch.cat([_left_pad(old.values, length, 2), _left_pad(new.values, length, 2)])
        self.mask = torch.cat([_left_pad(self.mask, length, 1), _left_pad(mask, length, 1)])
        self.pending = torch.cat([self.pending, pending])
        self.rows = self.rows + rows

    def _step(self) -> None:
        positions = self.mask.sum(dim=1, keepdim=True)
        self.mask = torch.cat([self.mask, torch.ones_like(self.pending)], dim=1)
        with decoding():
            output = self._forward(self.rows, input_ids=self.pending, attention_mask=self.mask, position_ids=positions,
                                   cache=self.cache)
        self.cache = output.cache
        tokens = _sample(output.logits[:, -1, :], self.rows)
        for row, token in zip(self.rows, tokens):
            row.add(token)
        self.pending = torch.tensor(tokens, dtype=torch.long).unsqueeze(1)
        self._retire()

    def _done(self, row: _Row) -> bool:
        params = row.request.params
        return (row.tokens[-1] == self.engine.tokenizer.eos_token_id or len(row.tokens) >= params.max_new_tokens
                or (row.constraint is not None and row.constraint.finished)
                or (bool(params.stop) and self._stopped(row)))

    def _stopped(self, row: _Row) -> bool:
        # Only the tail can hold a stop string that the last token completed: each token adds
        # at least one character, so the longest stop string's length in tokens is enough.
        # While the whole reply fits the tail, its leading whitespace is dropped first, as the
        # reply's text drops it (a stop of "\n" must not end a reply that opens with one).
        stop = row.request.params.stop
        window = max(map(len, stop)) + 1
        tail = self.engine.tokenizer.decode(row.tokens[-window:], skip_special_tokens=True)
        return cut_at_stop(tail if len(row.tokens) > window else tail.lstrip(), stop)[1]

    def _retire(self) -> None:
        keep = [i for i, row in enumerate(self.rows) if not self._done(row)]
        if len(keep) == len(self.rows):
            return
        eos = self.engine.tokenizer.eos_token_id
        for i, row in enumerate(self.rows):
            if i not in keep:
                tokens = row.tokens[:-1] if row.tokens[-1] == eos else row.tokens
                text = reply_text(self.engine.tokenizer.decode(tokens, skip_special_tokens=True), row.request.params.stop)
                row.request.future.set_result(Completion(text, row.prompt_tokens, len(tokens), row.request.adapter))
        index = torch.tensor(keep, dtype=torch.long)
        self.rows = [self.rows[i] for i in keep]
        self.mask, self.pending = self.mask[index], self.pending[index]
        if not self.rows:
            self.cache = None
            return
        # Columns that only the retired rows used are padding for everyone left: drop them.
        used = self.mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index, :, start:], layer.values[index, :, start:]
