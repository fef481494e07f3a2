"""A LangChain callback that logs every model call of a graph run to the experience library.

Attach it at invoke time; the graph's nodes need no change::

    graph.invoke(inputs, config={"callbacks": [logger], "metadata": {"episode": "e1", "target": "57"}})

Where each record comes from is read from the run: LangGraph adds the node name; the
metadata given at invoke time adds the episode context (run, iteration, episode, task,
protocol, target...); moot's nodes add agent and round; the pool's model adds its role.
A call made with no ``episode`` belongs to the episode of its LangChain root run. Every
record keeps its LangChain run id, parent run id and tags, and a record id that includes
the root run, so turns of one episode (a chat session reusing its id) never overwrite each
other.

When an episode ends, optional annotators add outcome fields (answer, correct, reward)
from the final output of the graph that made the call: ``{"debate": debate_outcome}``
annotates a debate's calls from the debate's own final state even when the debate runs
nested in a user's graph. The episode's records are then written in one batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.outputs import LLMResult

from .experience_library import ExperienceLibrary, ExperienceRecord, record_id

Annotator = Callable[[Any, dict[str, Any]], dict[str, Any]]
"""``annotate(final_output, record_metadata) -> outcome fields`` (see :mod:`moot.stores.record_schema`)."""
logger = logging.getLogger(__name__)

_INTERNAL_PREFIXES = ("langgraph_", "checkpoint_", "ls_", "__")
ROOT = ""
"""The annotators key for "the outermost run's output" (a plain chain's)."""


def _context(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = metadata or {}
    context = {k: v for k, v in metadata.items() if not k.startswith(_INTERNAL_PREFIXES)}
    if "langgraph_node" in metadata:
        context["node"] = metadata["langgraph_node"]
    if "langgraph_step" in metadata:
        context["step"] = metadata["langgraph_step"]
    return context


@dataclass
class _Call:
    """A model call that finished, waiting for its episode to end."""

    record: ExperienceRecord
    parent: UUID | None


class ExperienceLogger(BaseCallbackHandler):
    """Logs model calls of any LangChain / LangGraph run as experience records.

    Args:
        library: Where records go.
        annotate: Outcome fields for each record when its episode ends: one annotator fed
            the outermost run's output, or ``{graph_name: annotator}`` to annotate each
            call from the output of the nearest enclosing run of that name (a compiled
            graph's run carries the graph's name).
        flush_at: Records buffered before a write; call :meth:`flush` at the end.
        flush_every_s: Also write when this many seconds have passed since the last write,
            so a crash loses at most that much of a slow run.
        on_episode: Called with each finished episode's records after annotation (the live
            learner counts rewards here).
    """

    raise_error = True

    def __init__(self, library: ExperienceLibrary, annotate: Annotator | Mapping[str, Annotator] | None = None,
                 flush_at: int = 256, flush_every_s: float = 10.0,
                 on_episode: Callable[[list[ExperienceRecord]], None] | None = None) -> None:
        self.library = library
        self.annotators: dict[str, Annotator] = (
            dict(annotate) if isinstance(annotate, Mapping) else {ROOT: annotate} if annotate else {})
        self.flush_at = flush_at
        self.flush_every_s = flush_every_s
        self.on_episode = on_episode
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._parent: dict[UUID, UUID | None] = {}
        self._name: dict[UUID, str] = {}
        self._outputs: dict[UUID, Any] = {}  # final outputs of runs an annotator reads
        self._pending: dict[UUID, tuple[list[dict[str, str]], dict[str, Any]]] = {}
        self._episodes: dict[UUID, list[_Call]] = defaultdict(list)
        self._buffer: list[ExperienceRecord] = []
        self.written = 0

    def _root(self, run_id: UUID) -> UUID:
        while self._parent.get(run_id) is not None:
            run_id = self._parent[run_id]  # type: ignore[assignment]
        return run_id

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       name: str | None = None, **kwargs: Any) -> None:
        with self._lock:
            self._parent[run_id] = parent_run_id
            if name:
                self._name[run_id] = name

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        invocation_params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        context = _context(metadata)
        role = (invocation_params or {}).get("role")
        if role and "role" not in context:  # the pool's model knows the role it plays
            context["role"] = role
        context["lc_run_id"] = str(run_id)
        if parent_run_id is not None:
            context["lc_parent_run_id"] = str(parent_run_id)
        if tags:
            context["tags"] = ",".join(tags)
        with self._lock:
            self._parent[run_id] = parent_run_id
            self._pending[run_id] = (convert_to_openai_messages(messages[0]), context)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            if run_id not in self._pending:
                return
            messages, context = self._pending.pop(run_id)
            generation = response.generations[0][0]
            message = getattr(generation, "message", None)
            response_metadata = getattr(message, "response_metadata", {}) or {}
            adapter = response_metadata.get("adapter") or response_metadata.get("model_name")
            if adapter:
                context["adapter"] = adapter
            context["time"] = time.time()
            root = self._root(run_id)
            parent = self._parent.pop(run_id, None)
            context.setdefault("episode", str(root))
            calls = self._episodes[root]
            ordinal = sum(1 for c in calls if c.record["node"] == context.get("node") and c.record["step"] == context.get("step"))
            # The root run is part of the id: another invocation under the same episode id
            # (a chat session's next turn) adds records instead of replacing these.
            rid = record_id(context.get("run"), context.get("iteration"), context["episode"], root, context.get("node"),
                            context.get("round"), context.get("agent"), context.get("step"), ordinal)
            calls.append(_Call(ExperienceRecord(rid, generation.text, messages, context), parent))
            standalone = root == run_id
        if standalone:  # a model called on its own, outside any chain: it is its own episode
            self._close_episode(run_id, error=None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        with self._lock:
            name = self._name.get(run_id)
            if (name in self.annotators and name != ROOT) or (parent_run_id is None and ROOT in self.annotators):
                self._outputs[run_id] = outputs
        if parent_run_id is None:
            self._close_episode(run_id, error=None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        if parent_run_id is None:
            self._close_episode(run_id, error=error)

    def _annotation_source(self, call: _Call, root: UUID) -> tuple[Annotator, Any] | None:
        """The annotator for a call and the output it reads: the nearest enclosing named graph's, else the root's."""
        run = call.parent
        while run is not None:
            name = self._name.get(run)
            if name in self.annotators and name != ROOT and run in self._outputs:
                return self.annotators[name], self._outputs[run]
            run = self._parent.get(run)
        if ROOT in self.annotators and root in self._outputs:
            return self.annotators[ROOT], self._outputs[root]
        return None

    def _close_episode(self, root: UUID, error: BaseException | None) -> None:
        with self._lock:
            calls = self._episodes.pop(root, [])
            sources = [self._annotation_source(call, root) for call in calls]
            finished = [k for k in self._parent if k == root or self._root(k) == root]
            for run in finished:
                self._parent.pop(run, None)
                self._name.pop(run, None)
                self._outputs.pop(run, None)
        records = [call.record for call in calls]
        for record, source in zip(records, sources):
            if error is not None:
                # The outputs that were made before the failure are kept, marked as such.
                record.metadata["error"] = f"{type(error).__name__}: {error}"[:500]
            elif source is not None and source[1] is not None:
                annotate, output = source
                try:
                    record.metadata.update(annotate(output, dict(record.metadata)))
                except Exception as failure:  # noqa: BLE001 - a record is worth more than its outcome
                    logger.warning("annotating record %s failed: %s", record.id, failure)
                    record.metadata["annotation_error"] = str(failure)[:500]
        if records and self.on_episode is not None:
            self.on_episode(records)
        with self._lock:
            self._buffer.extend(records)
            full = len(self._buffer) >= self.flush_at
            due = time.monotonic() - self._last_flush >= self.flush_every_s
        if full or due:
            self.flush()

    def flush(self) -> int:
        """Write buffered records now; returns how many were written."""
        with self._lock:
            records, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
        if records:
            try:
                self.library.add(records)
            except Exception:
                with self._lock:  # keep them for the next flush rather than lose them
                    self._buffer[:0] = records
                raise
            self.written += len(records)
        return len(records)

    def __enter__(self) -> "ExperienceLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.flush()
