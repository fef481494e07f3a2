"""The experience library: every node output of every episode, in Chroma.

A record is one model call made by a node: the prompt messages in, the text out, and
metadata saying where it came from (run, iteration, episode, task, protocol, node, role,
agent, round, adapter) and how it turned out (answer, correct, consensus, reward). A
training example is rebuilt exactly from a record's messages and text.

What Chroma embeds is the record's *input* (its last user message), so "past episodes like
this question" is a nearest-neighbour query; the reply is kept in the metadata field
``reply`` and the prompt in ``messages``. A library written before this layout (format 1,
which embedded the reply) is migrated in place when it is opened. Through
:meth:`ExperienceLibrary.as_vectorstore` the same collection is a LangChain ``VectorStore``
(similarity, MMR, metadata filters).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

import chromadb

from .embedding import offline_embedding_function

Scalar = str | int | float | bool
logger = logging.getLogger(__name__)


def record_id(*parts: Any) -> str:
    """Deterministic id from the parts that locate a node output, so reruns upsert.

    Examples:
        >>> record_id("run", 0, "ep-1", "agent", 1, 2) == record_id("run", 0, "ep-1", "agent", 1, 2)
        True
    """
    key = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(key.encode()).hexdigest()[:24]


@dataclass
class ExperienceRecord:
    """One logged node output."""

    id: str
    text: str
    messages: list[dict[str, str]]
    metadata: dict[str, Scalar] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Scalar | None:
        return self.metadata.get(key)

    def chat(self) -> list[dict[str, str]]:
        """The conversation as trained on: the prompt messages plus this output as the reply."""
        return [*self.messages, {"role": "assistant", "content": self.text}]


@dataclass(frozen=True)
class Feedback:
    """A reward (and optionally a correction) for an episode, given after it ended.

    Feedback rows are only ever added: a later reward for the same episode does not erase
    an earlier one, and the latest one counts (see :meth:`ExperienceLibrary.feedback`).

    Attributes:
        episode: The episode it judges (the ``episode`` of its records).
        reward: The reward, e.g. 1.0 for a thumbs-up, 0.0 for a thumbs-down.
        correction: What the reply should have been; it becomes a training target.
        source: Who gave it: ``user``, ``judge``, ``referee``, a test's name...
        time: When it arrived (Unix seconds).
        run: The run id it belongs to (where a library is shared).
        id: Unique per row.
    """

    episode: str
    reward: float
    correction: str | None = None
    source: str = "user"
    time: float = field(default_factory=time.time)
    run: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _clean(metadata: dict[str, Any]) -> dict[str, Scalar]:
    # Chroma metadata holds scalars only and no None.
    return {k: v for k, v in metadata.items() if isinstance(v, (str, int, float, bool))}


def _where(filters: dict[str, Scalar]) -> dict[str, Any] | None:
    clauses = [{key: {"$eq": value}} for key, value in filters.items()]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


LIBRARY_FORMAT = 2
"""2: the input is embedded and the reply is in ``reply``; 1 (before): the reply was embedded."""


def input_text(messages: list[dict[str, str]]) -> str:
    """What a record is found by: its last user message (the question), else its last message.

    Examples:
        >>> input_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "45 + 12?"}])
        '45 + 12?'
    """
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return str(messages[-1].get("content", "")) if messages else ""


def _records(ids: list[str], documents: list[str | None], metadatas: list[Any]) -> list[ExperienceRecord]:
    records = []
    for id_, document, metadata in zip(ids, documents, metadatas):
        metadata = dict(metadata)
        messages = json.loads(metadata.pop("messages", "[]"))
        text = metadata.pop("reply", document)  # format 1 kept the reply as the document
        records.append(ExperienceRecord(id_, text or "", messages, metadata))
    return records


class LibraryUnavailable(RuntimeError):
    """The library's folder or server cannot be opened; the message names it."""


class ExperienceLibrary:
    """Chroma-backed store of node outputs.

    Args:
        location: A folder (embedded ``PersistentClient``) or ``http://host:port`` (a
            Chroma server through ``HttpClient``).
        collection: Collection name.
        retry_delays_s: Waits between retries of a failed write.
        page_size: Records fetched per request by :meth:`find`. Chroma answers one request
            with one SQL query whose variables SQLite caps at 32,766, so a library-wide
            query has to come in pages.

    Examples:
        >>> import tempfile
        >>> library = ExperienceLibrary(tempfile.mkdtemp())
        >>> library.add([ExperienceRecord("r1", "57", [{"role": "user", "content": "45+12?"}],
        ...                               {"role": "debater-0", "round": 0})])
        >>> [r.text for r in library.find(role="debater-0")]
        ['57']
    """

    def __init__(self, location: str | Path, collection: str = "experience", page_size: int = 5000,
                 retry_delays_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)) -> None:
        self.retry_delays_s = retry_delays_s
        if page_size < 1:
            raise ValueError(f"page_size must be positive, got {page_size}")
        self.page_size = page_size
        location = str(location)
        self.location = location
        self._write_lock = threading.Lock()  # writers from many threads share one client
        try:
            if location.startswith(("http://", "https://")):
                url = urlparse(location)
                self.client = chromadb.HttpClient(
                    host=url.hostname or "localhost", port=url.port or 8000, ssl=url.scheme == "https"
                )
            else:
                if Path(location).exists() and not Path(location).is_dir():
                    raise NotADirectoryError("it is a file, not a folder")
                Path(location).mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=location)
            embedding = offline_embedding_function()
            self.collection = self.client.get_or_create_collection(
                collection, embedding_function=embedding, metadata={"moot_format": LIBRARY_FORMAT})
            self.feedback_collection = self.client.get_or_create_collection(f"{collection}-feedback",
                                                                             embedding_function=embedding)
            # A damaged index is found now, as one error, rather than at the first read of a run.
            self.collection.count()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # noqa: BLE001 - Chroma's Rust core reports damage as a panic (a BaseException)
            raise LibraryUnavailable(f"cannot open the experience library at {location}: {error}") from error
        self._migrate()

    def _migrate(self) -> None:
        """Bring a library of an older format to this one (its records re-embedded by their inputs)."""
        found = int((self.collection.metadata or {}).get("moot_format", 1))
        if found > LIBRARY_FORMAT:
            raise LibraryUnavailable(f"the experience library at {self.location} has format {found}; this moot "
                                     f"reads up to {LIBRARY_FORMAT}: upgrade moot")
        if found == LIBRARY_FORMAT:
            return
        logger.warning("migrating the experience library at %s from format %d to %d", self.location, found, LIBRARY_FORMAT)
        self.add(self.find())  # read in the old layout, written in the new one
        self.collection.modify(metadata={"moot_format": LIBRARY_FORMAT})

    def add(self, records: Iterable[ExperienceRecord]) -> None:
        """Upsert records (same id: replaced, never duplicated), in server-sized batches.

        A write that fails (a Chroma server restarting, a dropped connection) is retried
        with exponential backoff (``retry_delays_s``); an upsert is idempotent, so a retry
        never duplicates. After the last retry the error is raised and nothing is lost
        from the caller's side (the logger keeps its buffer).
        """
        records = list({r.id: r for r in records}.values())
        for attempt, delay in enumerate([*self.retry_delays_s, None]):
            try:
                limit = self.client.get_max_batch_size()
                with self._write_lock:
                    self._upsert(records, limit)
                return
            except Exception as error:  # noqa: BLE001 - which errors a server raises varies by client
                if delay is None:
                    raise
                logger.warning("library write failed (%s); retry %d in %.1f s", error, attempt + 1, delay)
                time.sleep(delay)

    def _upsert(self, records: list[ExperienceRecord], limit: int) -> None:
        for start in range(0, len(records), limit):
            chunk = records[start : start + limit]
            self.collection.upsert(
                ids=[r.id for r in chunk],
                documents=[input_text(r.messages) or " " for r in chunk],
                metadatas=[_clean({**r.metadata, "reply": r.text, "messages": json.dumps(r.messages)}) for r in chunk],
            )

    def find(self, where: dict[str, Any] | None = None, **equals: Scalar) -> list[ExperienceRecord]:
        """Records whose metadata match: ``equals`` as field=value, or a raw Chroma ``where``."""
        if where and equals:
            where = {"$and": [where, _where(equals)]}
        where = where or _where(equals)
        records: list[ExperienceRecord] = []
        while True:
            page = self.collection.get(where=where, include=["documents", "metadatas"], limit=self.page_size,
                                       offset=len(records))
            records.extend(_records(page["ids"], page["documents"], page["metadatas"]))
            if len(page["ids"]) < self.page_size:
                break
        return sorted(records, key=lambda r: (str(r["episode"]), r["round"] or 0, r["agent"] or 0, r.id))

    def delete(self, **equals: Scalar) -> None:
        """Delete the records whose metadata match, e.g. ``delete(run=run_id)``."""
        if not equals:
            raise ValueError("delete needs at least one field=value; it never empties the whole library")
        with self._write_lock:
            self.collection.delete(where=_where(equals))
            if set(equals) <= {"run", "episode", "source"}:  # an episode's feedback goes with it
                self.feedback_collection.delete(where=_where(equals))

    def count(self, **equals: Scalar) -> int:
        """How many records match ``equals`` (all of them without); reads ids only."""
        if not equals:
            return self.collection.count()
        counted = 0
        while True:
            page = self.collection.get(where=_where(equals), include=[], limit=self.page_size, offset=counted)
            counted += len(page["ids"])
            if len(page["ids"]) < self.page_size:
                return counted

    def search(self, text: str, n: int = 5, **equals: Scalar) -> list[ExperienceRecord]:
        """Records whose input is nearest in meaning to ``text`` (past episodes like this question)."""
        result = self.collection.query(query_texts=[text], n_results=n, where=_where(equals), include=["documents", "metadatas"])
        return _records(result["ids"][0], result["documents"][0], result["metadatas"][0])

    # -- feedback ----------------------------------------------------------------------------

    def add_feedback(self, feedback: Feedback) -> None:
        """Add one feedback row (never replacing an earlier one)."""
        metadata = _clean({k: v for k, v in asdict(feedback).items() if k not in ("id", "correction")})
        metadata["has_correction"] = feedback.correction is not None
        with self._write_lock:
            self.feedback_collection.add(ids=[feedback.id], documents=[feedback.correction or " "], metadatas=[metadata])

    def feedback(self, **equals: Scalar) -> list[Feedback]:
        """Feedback rows whose fields match (e.g. ``episode=...``, ``run=...``), oldest first."""
        rows: list[Feedback] = []
        where = _where(equals)
        while True:
            page = self.feedback_collection.get(where=where, include=["documents", "metadatas"],
                                                limit=self.page_size, offset=len(rows))
            for id_, text, metadata in zip(page["ids"], page["documents"], page["metadatas"]):
                metadata = dict(metadata)
                correction = text if metadata.pop("has_correction", False) else None
                rows.append(Feedback(episode=str(metadata["episode"]), reward=float(metadata["reward"]),
                                     correction=correction, source=str(metadata.get("source", "user")),
                                     time=float(metadata["time"]), run=metadata.get("run"), id=id_))  # type: ignore[arg-type]
            if len(page["ids"]) < self.page_size:
                break
        return sorted(rows, key=lambda f: (f.time, f.id))

    # -- LangChain ---------------------------------------------------------------------------

    def as_vectorstore(self, embedding: Any = None) -> Any:
        """This library's collection as a LangChain ``VectorStore`` (``langchain_chroma.Chroma``).

        A document's ``page_content`` is the record's input; its metadata holds the reply
        (``reply``), the prompt (``messages``, JSON) and every record field, so
        ``filter={"role": "support"}`` and MMR work as usual.

        Args:
            embedding: The LangChain ``Embeddings`` the store searches with (default: the
                library's own offline model). Another one fits only a library whose records
                were all embedded with it: vectors of two models do not compare.
        """
        from langchain_chroma import Chroma

        from .embedding import OfflineEmbeddings

        return Chroma(client=self.client, collection_name=self.collection.name,
                      embedding_function=embedding or OfflineEmbeddings())

    def as_retriever(self, **kwargs: Any) -> Any:
        """A LangChain retriever over past records: ``as_retriever(search_type="mmr", search_kwargs={"k": 4, "filter": {...}})``."""
        return self.as_vectorstore().as_retriever(**kwargs)
