"""One base model in memory, many LoRA adapters, and batched generation on the CPU.

Every agent of a debate round calls its own chat model from its own LangGraph task (a
thread). The engine runs the requests that are in flight together, each row with its own
adapter (peft's ``adapter_names``), which is several times faster per token than running
them one by one on a CPU. Two schedulers:

* ``continuous`` (default): requests join and leave the running batch between decode steps
  (see :mod:`~moot.nodes.serving.continuous_batching`);
* ``static``: the requests that arrive within a short window run as one padded
  transformers ``generate`` call, which ends with its longest row.
"""

from __future__ import annotations

import atexit
import functools
from collections import Counter
import logging
import queue
import threading
import warnings
import weakref
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch

from .constrained_decoding import RowConstraint, ll_tokenizer
from .adapter_routing import AdapterRouting
from .adapter_validation import base_fingerprint, validate_adapter
from .compute_dtype import DtypeChoice, dtype_name, resolve_dtype
from .continuous_batching import ContinuousBatcher
from .prefix_sharing import PrefixCache
from .transformers_warnings import quiet_checkpointing_deprecation
from .embedded_model import model_name
from .half_weights import HalfWeightLinear, use_half_weights
from .generation import Completion, GenerationRequest, SamplingParams, reply_text

logger = logging.getLogger(__name__)

_LIVE_ENGINES: "weakref.WeakSet[LocalEngine]" = weakref.WeakSet()
# A worker thread idle this long ends (the next request starts another): while it waits it
# holds its engine, so an engine that nobody else holds any more could never be freed.
WORKER_IDLE_EXIT_S = 10.0


@atexit.register
def _close_live_engines() -> None:
    # A worker thread still freeing tensors while the interpreter finalizes aborts the
    # process; stop every worker before that.
    for engine in list(_LIVE_ENGINES):
        engine.close()


class LocalEngine:
    """A causal LM plus its LoRA adapters, shared by every role of a graph.

    Args:
        model: A transformers causal LM (plain, or already a peft ``PeftModel``).
        tokenizer: Its tokenizer; must have a chat template.
        max_batch: Most rows decoded together.
        gather_window_s: How long the static scheduler waits for more requests after the first.
        scheduler: ``continuous`` or ``static`` (see the module docstring).
        max_prompt_tokens: Longest prompt served. Together with ``max_new_tokens_limit``
            and ``max_batch`` it bounds what any input can make the engine allocate.
        overlong: What a longer prompt gets: ``refuse`` (a ``ValueError``) or ``truncate``
            (its oldest tokens are dropped, with a warning).
        max_new_tokens_limit: Requests asking for more new tokens are refused.
        max_lora_rank: Adapters of a higher rank are refused.
        model_dir: The folder the weights came from; with it, an adapter whose manifest
            names another base (by fingerprint), or that has no manifest, is refused.
        allow_unverified_adapters: Load adapters without a moot manifest (trained
            elsewhere) with a warning, although their base cannot be verified.
        min_shared_prefix: Requests admitted together that share at least this many leading
            tokens and an adapter have that prefix prefilled once (0: never; continuous
            scheduler; see :mod:`~moot.nodes.serving.prefix_sharing`). ``prefill_tokens`` and
            ``prefill_tokens_saved`` count what was computed and what was not.
        prefix_cache_entries: Recent prefixes whose keys and values are kept for later
            requests that open with the same tokens (0: none kept).
        half_weights: Decode steps multiply by packed float16 copies of a float32 model's
            weights, up to 2.5x faster matrix products on x86 CPUs (continuous scheduler; see
            :mod:`~moot.nodes.serving.half_weights`); ``half_weights_in_use`` says whether
            they are (never for a bfloat16 model, nor where fbgemm is missing).

    Examples:
        >>> from moot.nodes.serving.local_engine import LocalEngine, SamplingParams
        >>> engine = LocalEngine.from_pretrained()  # the embedded SmolLM2 by default
        >>> [c.text for c in engine.generate([[{"role": "user", "content": "Say hi"}]],
        ...                                   SamplingParams(max_new_tokens=4))] != []
        True
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_batch: int = 64, gather_window_s: float = 0.05,
                 max_lora_rank: int = 64, model_dir: str | Path | None = None, allow_unverified_adapters: bool = False,
                 scheduler: Literal["continuous", "static"] = "continuous", max_prompt_tokens: int = 2048,
                 overlong: Literal["refuse", "truncate"] = "refuse", max_new_tokens_limit: int = 1024,
                 min_shared_prefix: int = 16, prefix_cache_entries: int = 16, half_weights: bool = True):
        if scheduler not in ("continuous", "static"):
            raise ValueError(f"unknown scheduler {scheduler!r}; use continuous or static")
        if overlong not in ("refuse", "truncate"):
            raise ValueError(f"unknown overlong policy {overlong!r}; use refuse or truncate")
        self.max_prompt_tokens, self.overlong, self.max_new_tokens_limit = max_prompt_tokens, overlong, max_new_tokens_limit
        self.scheduler = scheduler
        self.model = model.eval()
        if half_weights and scheduler == "continuous":  # the static scheduler never decodes through them
            use_half_weights(self.model)
        self.max_lora_rank = max_lora_rank
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.allow_unverified_adapters = allow_unverified_adapters
        # Shapes of the base's linear layers, taken before any adapter wraps them.
        self._base_shapes = {
            name: tuple(module.weight.shape)
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear)
        }
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_batch = max_batch
        self.gather_window_s = gather_window_s
        # Records and traces name the base model, never a folder of this machine.
        self.name = model_name(getattr(model.config, "_name_or_path", "") or "local")
        self.dtype = dtype_name(model.dtype)
        self._lock = threading.RLock()
        self._routing = AdapterRouting()  # the LoRA layers' state: changed under _lock
        # Requests queued or running per adapter: an adapter is unloaded only once none is.
        self._in_flight: Counter[str] = Counter()
        self._retiring: set[str] = set()  # being unloaded: new requests for them are refused
        self._idle = threading.Condition()
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()  # None: stop the worker
        self._worker: threading.Thread | None = None
        self._worker_lock = threading.Lock()  # a request is never queued for a worker that is ending
        self.generate_calls = 0
        self.min_shared_prefix = min_shared_prefix
        self.prefix_cache = PrefixCache(prefix_cache_entries, max(min_shared_prefix, 1))
        self.prefill_tokens = self.prefill_tokens_saved = 0
        _LIVE_ENGINES.add(self)

    @property
    def half_weights_in_use(self) -> bool:
        """Whether decode steps multiply by float16 weight copies (see ``half_weights``)."""
        return self.scheduler == "continuous" and any(isinstance(m, HalfWeightLinear) for m in self.model.modules())

    @property
    def in_flight(self) -> int:
        """Requests queued or being generated now (the load a training process yields to)."""
        return sum(self._in_flight.values())

    @functools.cached_property
    def ll_tokenizer(self) -> Any:
        """The tokenizer as constrained decoding sees it (built on first use)."""
        return ll_tokenizer(self.tokenizer)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the worker thread once it has served what is queued (also done at interpreter exit)."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
            if worker is not None and worker.is_alive():
                self._queue.put(None)
        if worker is not None:
            worker.join(timeout_s)

    @classmethod
    def from_pretrained(
        cls, model_dir: str | Path | None = None, *, dtype: DtypeChoice = "auto", **kwargs: Any
    ) -> "LocalEngine":
        """Load a model folder (default: the embedded SmolLM2, cached once as float32).

        Args:
            dtype: Compute type; ``auto`` picks bfloat16 only on CPUs where it is measurably
                faster (see :func:`~moot.nodes.serving.compute_dtype.resolve_dtype`). The float32
                folder is cast at load, so one cache serves both.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .embedded_model import embedded_model_dir

        folder = Path(model_dir) if model_dir else embedded_model_dir()
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=resolve_dtype(dtype))
        return cls(model, tokenizer, model_dir=folder, **kwargs)

    # -- adapters -------------------------------------------------------------------------

    @property
    def adapters(self) -> set[str]:
        """Names of the adapters loaded now."""
        return set(getattr(self.model, "peft_config", {}) or {})

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load a peft LoRA folder under ``name`` into the running model (base untouched).

        The adapter is validated first (see :mod:`~moot.nodes.serving.adapter_validation`); a load
        that fails anyway is undone, so the engine keeps exactly the adapters it had.

        Raises:
            ValueError: if ``name`` is already loaded; versions must get new names.
            FileNotFoundError: if ``path`` holds no ``adapter_config.json``.
            AdapterRejected: if the adapter does not fit this base.
        """
        path = Path(path)
        fingerprint = base_fingerprint(self.model_dir) if self.model_dir is not None else None
        validate_adapter(path, base_shapes=self._base_shapes, max_rank=self.max_lora_rank, fingerprint=fingerprint,
                         allow_unverified=self.allow_unverified_adapters)
        with self._lock:
            if name in self.adapters:
                raise ValueError(f"adapter {name!r} is already loaded; give each version a new name")
            from peft import PeftModel

            before = self.model
            # peft would upcast a bf16 adapter to float32 (what training needs); serving keeps it in
            # the base's compute type, or every adapted layer runs a float32 side path and casts.
            same_dtype = {"adapter_name": name, "autocast_adapter_dtype": False}
            try:
                with quiet_checkpointing_deprecation():
                    if isinstance(self.model, PeftModel):
                        self.model.load_adapter(str(path), **same_dtype)
                    else:
                        self.model = PeftModel.from_pretrained(self.model, str(path), **same_dtype).eval()
            except BaseException:
                self._undo_load(before, name)
                raise
            finally:
                self._routing.forget()
            self.prefix_cache.forget(name)  # a name used before may hold prefixes of other weights

    def _undo_load(self, before: Any, name: str) -> None:
        from peft import PeftModel
        from peft.tuners.lora import LoraLayer

        if isinstance(before, PeftModel):
            if name in (before.peft_config or {}):
                before.delete_adapter(name)
        else:
            # PeftModel.from_pretrained wraps the base's layers in place before it reads the
            # weights; put every original layer back.
            for parent in list(before.modules()):
                for child_name, child in list(parent.named_children()):
                    if isinstance(child, LoraLayer):
                        setattr(parent, child_name, child.get_base_layer())
            before.__dict__.pop("peft_config", None)  # peft's tuner tags the wrapped model with it
        self.model = before.eval()

    def _require_loaded(self, adapters: Sequence[str | None]) -> None:
        unknown = {a for a in adapters if a is not None} - self.adapters
        if unknown:
            raise KeyError(f"adapters not loaded: {sorted(unknown)}; loaded: {sorted(self.adapters)}")

    def unload_adapter(self, name: str, timeout_s: float = 300.0) -> None:
        """Drop a loaded adapter and free its weights, once the requests already given to it are answered.

        Raises:
            KeyError: if ``name`` is not loaded.
            TimeoutError: if its requests are still running after ``timeout_s``.
        """
        with self._idle:
            self._retiring.add(name)
            if not self._idle.wait_for(lambda: self._in_flight[name] == 0, timeout_s):
                self._retiring.discard(name)
                raise TimeoutError(f"adapter {name!r} still has {self._in_flight[name]} requests after {timeout_s} s")
        try:  # outside the condition: the worker takes it, under the model lock, to count answers
            self._unload_now(name)
        finally:
            with self._idle:
                self._retiring.discard(name)

    def _unload_now(self, name: str) -> None:
        with self._lock:
            if name not in self.adapters:
                raise KeyError(f"adapter {name!r} is not loaded")
            self.prefix_cache.forget(name)
            self._routing.forget()
            if len(self.adapters) == 1:
                # peft refuses to delete the last adapter; unwrap to the untouched base.
                self.model = self.model.unload().eval()
            else:
                # Each request names its adapter, so peft's "active adapter" (which it warns it
                # moved when the active one is deleted) means nothing here.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*was active which is now deleted.*")
                    self.model.delete_adapter(name)

    # -- generation -----------------------------------------------------------------------

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat-templated prompt's token ids, held to ``max_prompt_tokens``.

        Raises:
            ValueError: for an overlong prompt under the ``refuse`` policy.
        """
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_prompt_tokens:
            if self.overlong == "refuse":
                raise ValueError(f"the prompt has {len(ids):,} tokens; this engine serves at most "
                                 f"{self.max_prompt_tokens:,} (max_prompt_tokens)")
            logger.warning("prompt of %d tokens truncated to its last %d", len(ids), self.max_prompt_tokens)
            ids = ids[-self.max_prompt_tokens :]
        return ids

    def submit(self, messages: list[dict[str, str]], adapter: str | None, params: SamplingParams,
               on_token: Callable[[int], None] | None = None) -> Future:
        """Queue one chat request; it joins the batch that is running or forming.

        ``on_token`` receives each generated token id as it comes (for streaming).

        Raises:
            KeyError: if ``adapter`` is not loaded.
            ValueError: for an overlong prompt (see ``overlong``) or too many new tokens.
        """
        if params.max_new_tokens > self.max_new_tokens_limit:
            raise ValueError(f"{params.max_new_tokens:,} new tokens asked; this engine generates at most "
                             f"{self.max_new_tokens_limit:,} (max_new_tokens_limit)")
        if params.grammar is not None:
            if self.scheduler != "continuous":
                raise ValueError("constrained decoding (a grammar) runs on the continuous scheduler; "
                                 "this engine was made with scheduler='static'")
            RowConstraint(params.grammar, self.ll_tokenizer)  # an invalid grammar fails here, not in the batch
        request = GenerationRequest(self.prompt_ids(messages), adapter, params, on_token=on_token)
        with self._idle:  # checked and counted at once, so an unload cannot slip in between
            self._require_loaded([adapter])
            if adapter in self._retiring:
                raise KeyError(f"adapter {adapter!r} is being unloaded")
            if adapter is not None:
                self._in_flight[adapter] += 1
                request.future.add_done_callback(lambda _: self._answered(adapter))
        with self._worker_lock:
            self._queue.put(request)
            if self._worker is None or not self._worker.is_alive():
                if self.scheduler == "continuous":
                    target = partial(ContinuousBatcher(self).run, self._queue)
                else:
                    target = self._serve_static
                self._worker = threading.Thread(target=target, name="moot-engine", daemon=True)
                self._worker.start()
        return request.future

    def next_request(self, requests: "queue.Queue[GenerationRequest | None]") -> GenerationRequest | None:
        """The next queued request, waiting for one; None when the worker thread is to end:
        :meth:`close` asked it to, or nothing came for :data:`WORKER_IDLE_EXIT_S`."""
        while True:
            try:
                return requests.get(timeout=WORKER_IDLE_EXIT_S)
            except queue.Empty:
                with self._worker_lock:
                    if requests.empty():
                        if self._worker is threading.current_thread():
                            self._worker = None
                        return None

    def _answered(self, adapter: str) -> None:
        with self._idle:
            self._in_flight[adapter] -= 1
            self._idle.notify_all()

    def _serve_static(self) -> None:
        while True:
            first = self.next_request(self._queue)
            if first is None:
                return
            batch, stop = [first], False
            while len(batch) < self.max_batch:
                try:
                    request = self._queue.get(timeout=self.gather_window_s)
                except queue.Empty:
                    break
                if request is None:
                    stop = True
                    break
                batch.append(request)
            groups: dict[SamplingParams, list[GenerationRequest]] = {}
            for request in batch:
                groups.setdefault(request.params, []).append(request)
            for params, requests in groups.items():
                try:
                    results = self._generate_padded(
                        [r.prompt_ids for r in requests], params, adapters=[r.adapter for r in requests]
                    )
                except BaseException as error:  # noqa: BLE001 - handed to every waiting caller
                    for r in requests:
                        r.future.set_exception(error)
                else:
                    for r, result in zip(requests, results):
                        r.future.set_result(result)
            if stop:
                return

    def log_likelihood(
        self, conversation: list[dict[str, str]], completion: str, adapter: str | None = None
    ) -> float:
        """Total log-probability (nats) of ``completion`` as the assistant's reply to ``conversation``.

        The reply is laid out by the chat template exactly as training lays it out, so this
        is the quantity LoRA training raises: a mechanism check that, unlike a sampled text,
        does not hinge on which token wins a near-tie on a given CPU.
        """
        self._require_loaded([adapter])
        prompt = self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        full = self.tokenizer.apply_chat_template(
            [*conversation, {"role": "assistant", "content": completion}], tokenize=False
        )
        if not full.startswith(prompt):
            raise ValueError("the chat template does not extend the prompt with the reply; cannot score it")
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        reply_ids = self.tokenizer(full[len(prompt):], add_special_tokens=False, return_tensors="pt")["input_ids"]
        input_ids = torch.cat([prompt_ids, reply_ids], dim=1)
        logits = self.forward([adapter], input_ids=input_ids).logits.float()
        start = prompt_ids.shape[1]
        log_probs = torch.log_softmax(logits[0, start - 1 : -1], dim=-1)
        return float(log_probs.gather(1, reply_ids[0].unsqueeze(1)).sum())

    def generate(
        self,
        conversations: Sequence[list[dict[str, str]]],
        params: SamplingParams = SamplingParams(),
        adapters: Sequence[str | None] | None = None,
    ) -> list[Completion]:
        """Generate for several conversations at once, each with its own adapter; wait for all."""
        adapters = list(adapters) if adapters is not None else [None] * len(conversations)
        futures = [self.submit(list(c), a, params) for c, a in zip(conversations, adapters)]
        return [f.result() for f in futures]

    def pad(self, prompts: Sequence[list[int]]) -> Any:
        """Left-pad a batch of tokenized prompts: ``input_ids`` and ``attention_mask``."""
        return self.tokenizer.pad({"input_ids": list(prompts)}, padding=True, return_tensors="pt")

    def forward(self, adapters: Sequence[str | None], **inputs: Any) -> Any:
        """One forward pass of a batch, row ``i`` through ``adapters[i]`` (``None``: the base).

        It holds the engine's lock, so no adapter is loaded or unloaded during the pass.
        """
        with self._lock, torch.inference_mode():
            if self.adapters:
                inputs.update(self._routing.options(self.model, adapters))
            return self.model(**inputs)

    def _generate_padded(
        self,
        prompts: Sequence[list[int]],
        params: SamplingParams,
        adapters: Sequence[str | None],
    ) -> list[Completion]:
        """One padded transformers ``generate`` call (the static scheduler)."""
        inputs = self.pad(prompts)
        options: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "do_sample": params.temperature > 0,
        }
        if params.temperature > 0:
            options.update(temperature=params.temperature, top_p=params.top_p, top_k=0)
        if params.stop:
            options.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with self._lock, torch.inference_mode():
            if self.adapters:
                options.update(self._routing.options(self.model, adapters))
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self.model.generate(**inputs, **options)
            self.generate_calls += 1
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        completions = []
        for row, adapter, mask in zip(new_tokens, adapters, inputs["attention_mask"]):
            length = int((row != self.tokenizer.pad_token_id).sum())
            text = reply_text(self.tokenizer.decode(row, skip_special_tokens=True), params.stop)
            completions.append(Completion(text, int(mask.sum()), length, adapter))
        return completions
