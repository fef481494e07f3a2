"""The experience library in LangChain's terms: a vector store and retriever over records' inputs; old libraries migrate."""

from __future__ import annotations

import json

import chromadb
import pytest

from moot.stores import ExperienceLibrary, ExperienceRecord, LibraryUnavailable
from moot.stores.embedding import offline_embedding_function


def record(rid: str, question: str, reply: str, role: str) -> ExperienceRecord:
    return ExperienceRecord(rid, reply, [{"role": "user", "content": question}], {"role": role, "reward": 1.0})


@pytest.fixture
def library(tmp_path) -> ExperienceLibrary:
    library = ExperienceLibrary(tmp_path / "library")
    library.add([
        record("a", "What is the capital of France?", "Paris.", "support"),
        record("b", "What is seven plus six?", "13", "solver"),
        record("c", "What is eight plus five?", "13", "solver"),
        record("d", "Which city is France's capital?", "Paris", "support"),
    ])
    return library


def test_a_retriever_finds_past_episodes_by_their_question_and_carries_the_reply(library):
    (document,) = library.as_retriever(search_kwargs={"k": 1}).invoke("How much is seven plus six?")
    assert document.page_content == "What is seven plus six?"
    assert document.metadata["reply"] == "13" and json.loads(document.metadata["messages"])[0]["role"] == "user"


def test_filters_and_mmr_work_through_the_vector_store(library):
    store = library.as_vectorstore()
    hits = store.similarity_search("capital of France", k=4, filter={"role": "solver"})
    assert {d.metadata["role"] for d in hits} == {"solver"}
    diverse = store.max_marginal_relevance_search("capital of France", k=2, fetch_k=4)
    assert len(diverse) == 2 and diverse[0].metadata["reply"].startswith("Paris")
    assert library.search("France capital city", n=1)[0].text.startswith("Paris")


def test_a_library_of_the_older_format_is_migrated_when_opened(tmp_path):
    folder = tmp_path / "old"
    old = chromadb.PersistentClient(path=str(folder)).get_or_create_collection(
        "experience", embedding_function=offline_embedding_function())
    old.upsert(ids=["x"], documents=["Paris."],  # format 1: the reply was the document
               metadatas=[{"role": "support", "messages": json.dumps([{"role": "user", "content": "Capital of France?"}])}])
    library = ExperienceLibrary(folder)
    (migrated,) = library.find()
    assert migrated.text == "Paris." and migrated.messages[0]["content"] == "Capital of France?"
    assert library.collection.metadata["moot_format"] == 2
    assert library.as_vectorstore().similarity_search("France", k=1)[0].page_content == "Capital of France?"


def test_a_library_of_a_newer_format_is_refused_with_a_clear_message(tmp_path):
    folder = tmp_path / "new"
    chromadb.PersistentClient(path=str(folder)).get_or_create_collection(
        "experience", embedding_function=offline_embedding_function(), metadata={"moot_format": 99})
    with pytest.raises(LibraryUnavailable, match="format 99"):
        ExperienceLibrary(folder)


def test_few_shot_memory_shows_the_roles_best_similar_past_calls_after_the_system_prompt(library):
    from langchain_core.messages import SystemMessage
    from langchain_core.runnables import RunnableLambda

    from moot.nodes import FewShotConfig, FewShotMemory

    library.add([ExperienceRecord("e", "14", [{"role": "user", "content": "What is seven plus eight?"}],
                                  {"role": "solver", "reward": 0.0})])  # a wrong past answer: never shown
    seen = RunnableLambda(lambda messages: messages)  # a "model" that returns its prompt
    memory = FewShotMemory(library, "solver", FewShotConfig(k=3))
    prompt = memory.wrap(seen).invoke([SystemMessage("Answer with a number."), ("user", "What is nine plus six?")])
    assert prompt[0].type == "system" and prompt[-1].content == "What is nine plus six?"
    shown = prompt[1:-1]
    assert [m.type for m in shown] == ["human", "ai"] * 2
    assert {m.content for m in shown[1::2]} == {"13"}  # the solver's rewarded replies, not the support role's
    again = memory.wrap(seen).invoke("What is seven plus six?")
    assert "What is seven plus six?" not in [m.content for m in again[:-1]]  # the question itself is no example


def test_a_remembering_pool_never_shows_held_out_episodes(library):
    from langchain_core.runnables import RunnableLambda

    from moot.nodes import FewShotConfig, SharedModelPool
    from moot.nodes.few_shot_memory import RememberingPool

    library.add([ExperienceRecord("t", "15", [{"role": "user", "content": "What is nine plus six?"}],
                                  {"role": "solver", "reward": 1.0, "split": "test"}),
                 ExperienceRecord("u", "13", [{"role": "user", "content": "What is six plus seven?"}],
                                  {"role": "solver", "reward": 1.0, "split": "train"})])
    echo = SharedModelPool(RunnableLambda(lambda messages: messages))  # a "model" that returns its prompt
    pool = RememberingPool(echo, library, FewShotConfig(k=5), where={"split": "train"})
    prompt = pool.model("solver").invoke("What is nine plus five?")
    shown = [m.content for m in prompt[:-1]]
    assert shown == ["What is six plus seven?", "13"]  # the test-split record is never an example
    assert pool.registry is echo.registry
