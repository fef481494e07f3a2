"""A LangChain callback that logs every model call of a graph run to the experience library.

Attach it at invoke time; the graph's nodes need no change::

    graph.invoke(inputs, config={"callbacks": [logger], "metadata": {"episode": "e1", "target": "57"}})

Where each record comes from is read from the run metadata: LangGraph adds the node name;
the metadata given at invoke time adds the episode context (run, iteration, episode, task,
protocol, target...); moot's nodes add agent, round and role. When the outermost run
ends, an optional ``annotate`` function adds outcome fields (answer, correct, consensus,
reward) from the final state, and the episode's records are written in one batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any, Callable
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.outputs import LLMResult

from .experience_library import ExperienceLibrary, ExperienceRecord, record_id

Annotator = Callable[[Any, dict[str, Any]], dict[str, Any]]
logger = logging.getLogger(__name__)

_INTERNAL_PREFIXES = ("langgraph_", "checkpoint_", "ls_", "__")


def _context(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = metadata or {}
    context = {k: v for k, v in metadata.items() if not k.startswith(_INTERNAL_PREFIXES)}
    if "langgraph_node" in metadata:
        context["node"] = metadata["langgraph_node"]
    if "langgraph_step" in metadata:
        context["step"] = metadata["langgraph_step"]
    return context


class ExperienceLogger(BaseCallbackHandler):
    """Logs model calls of any LangChain / LangGraph run as experience records.

    Args:
        library: Where records go.
        annotate: ``annotate(final_output, record_metadata) -> outcome fields``, called
            for every record when its episode ends.
        flush_at: Records buffered before a write; call :meth:`flush` at the end.
        flush_every_s: Also write when this many seconds have passed since the last write,
            so a crash loses at most that much of a slow run.
    """

    raise_error = True

    def __init__(self, library: ExperienceLibrary, annotate: Annotator | None = None, flush_at: int = 256,
                 flush_every_s: float = 10.0) -> None:
        self.library = library
        self.annotate = annotate
        self.flush_at = flush_at
        self.flush_every_s = flush_every_s
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._parent: dict[UUID, UUID | None] = {}
        self._pending: dict[UUID, tuple[list[dict[str, str]], dict[str, Any]]] = {}
        self._episodes: dict[UUID, list[ExperienceRecord]] = defaultdict(list)
        self._buffer: list[ExperienceRecord] = []
        self.written = 0

    def _root(self, run_id: UUID) -> UUID:
        while self._parent.get(run_id) is not None:
            run_id = self._parent[run_id]  # type: ignore[assignment]
        return run_id

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        with self._lock:
            self._parent[run_id] = parent_run_id

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        with self._lock:
            self._parent[run_id] = parent_run_id
            self._pending[run_id] = (convert_to_openai_messages(messages[0]), _context(metadata))

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
            root = self._root(run_id)
            self._parent.pop(run_id, None)
            episode = self._episodes[root]
            ordinal = sum(1 for r in episode if r["node"] == context.get("node") and r["step"] == context.get("step"))
            located = "round" in context or "agent" in context
            rid = record_id(
                context.get("run"), context.get("iteration"), context.get("episode", str(root)), context.get("node"),
                context.get("round"), context.get("agent"),
                *(() if located else (context.get("step"), ordinal)),
            )
            episode.append(ExperienceRecord(rid, generation.text, messages, context))
            standalone = root == run_id
        if standalone:  # a model called on its own, outside any chain: it is its own episode
            self._close_episode(run_id, None, error=None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        with self._lock:
            self._pending.pop(run_id, None)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        if parent_run_id is None:
            self._close_episode(run_id, outputs, error=None)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        if parent_run_id is None:
            self._close_episode(run_id, None, error=error)

    def _close_episode(self, root: UUID, outputs: Any, error: BaseException | None) -> None:
        with self._lock:
            records = self._episodes.pop(root, [])
            self._parent = {k: v for k, v in self._parent.items() if k != root and self._root(k) != root}
        for record in records:
            if error is not None:
                # The outputs that were made before the failure are kept, marked as such.
                record.metadata["error"] = f"{type(error).__name__}: {error}"[:500]
            elif self.annotate is not None and outputs is not None:
                try:
                    record.metadata.update(self.annotate(outputs, dict(record.metadata)))
                except Exception as failure:  # noqa: BLE001 - a record is worth more than its outcome
                    logger.warning("annotating record %s failed: %s", record.id, failure)
                    record.metadata["annotation_error"] = str(failure)[:500]
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
