"""The experience library round trip: log -> query by metadata -> rebuild training examples."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import pytest
from chromadb.api.client import SharedSystemClient
from fakes import scripted_pool
from langchain_core.language_models import FakeListChatModel
from langgraph.graph import START, StateGraph

from moot.graphs import build_debate_graph, debate_outcome
from moot.nodes.debate import DebateConfig
from moot.stores import ExperienceLibrary, ExperienceLogger, ExperienceRecord
from moot.stores.experience_library import LibraryUnavailable
from moot.training import CurationConfig, debate_training_sets


@pytest.fixture
def library(tmp_path) -> ExperienceLibrary:
    return ExperienceLibrary(tmp_path / "library")


def play(library: ExperienceLibrary, episode: str = "e1", target: str = "7") -> dict:
    pool = scripted_pool(debater_0=["5", "7"], debater_1=["7", "7"], debater_2=["6", "6"])
    graph = build_debate_graph(pool, DebateConfig(n_agents=3, n_rounds=2))
    with ExperienceLogger(library, annotate=debate_outcome) as logger:
        return graph.invoke(
            {"question": "What is 3 + 4?"},
            {"callbacks": [logger], "metadata": {"run": "r", "iteration": 1, "episode": episode, "target": target}},
        )


def test_every_node_output_is_logged_with_its_place_and_outcome(library):
    play(library)
    records = library.find(run="r", episode="e1")
    assert len(records) == 6
    by_place = {(r["round"], r["agent"]): r for r in records}
    assert by_place[(0, 0)]["answer"] == "5" and by_place[(0, 0)]["correct"] is False
    assert by_place[(1, 0)]["answer"] == "7" and by_place[(1, 0)]["correct"] is True
    assert by_place[(1, 2)]["consensus"] is False and by_place[(1, 1)]["consensus"] is True
    assert {r["node"] for r in records} == {"agent"}
    assert by_place[(1, 1)]["role"] == "debater-1" and by_place[(1, 1)]["reward"] == 1.0


def test_query_by_metadata_and_rebuild_exact_training_examples(library):
    play(library)
    round_two = library.find(round=1, agent=0)
    (record,) = round_two
    assert record.messages[0] == {"role": "user", "content": "What is 3 + 4?"}
    assert record.messages[1] == {"role": "assistant", "content": "5"}
    assert record.chat()[-1] == {"role": "assistant", "content": "7"}
    sets = debate_training_sets(library.find(run="r"), CurationConfig(target="ground_truth"))
    # agent 0 went wrong -> right (critic data); agent 1 right -> right twice; agent 2 never right.
    assert {role: len(examples) for role, examples in sets.items()} == {"debater-0": 1, "debater-1": 2}
    assert sets["debater-0"][0].prompt == record.messages and sets["debater-0"][0].completion == "7"


def test_consensus_filter_needs_no_ground_truth(library):
    play(library, target="6")  # ground truth says 6, the debate agreed on 7
    truth = debate_training_sets(library.find(run="r"), CurationConfig(target="ground_truth"))
    consensus = debate_training_sets(library.find(run="r"), CurationConfig(target="consensus"))
    assert {e.completion for examples in truth.values() for e in examples} == {"6"}
    assert {e.completion for examples in consensus.values() for e in examples} == {"7"}


def test_right_to_right_fraction_drops_only_holding_revisions(library):
    play(library)
    sets = debate_training_sets(library.find(run="r"), CurationConfig(right_to_right_fraction=0.0))
    assert {role: len(examples) for role, examples in sets.items()} == {"debater-0": 1, "debater-1": 1}


def test_a_reused_episode_id_adds_records_instead_of_replacing_them(library):
    play(library)
    play(library)  # a second invocation (a chat's next turn) under the same episode id
    assert library.count() == 12
    assert len({r["lc_run_id"] for r in library.find(episode="e1")}) == 12


def test_a_users_own_graph_logs_with_no_changes_to_its_nodes(library):
    class State(TypedDict):
        topic: str
        notes: Annotated[list[str], operator.add]

    writer = FakeListChatModel(responses=["draft about cats"])
    editor = FakeListChatModel(responses=["edited draft"])
    builder = StateGraph(State)
    builder.add_node("write", lambda s: {"notes": [writer.invoke(s["topic"]).content]})
    builder.add_node("edit", lambda s: {"notes": [editor.invoke(s["notes"][-1]).content]})
    builder.add_edge(START, "write")
    builder.add_edge("write", "edit")
    graph = builder.compile()
    with ExperienceLogger(library) as logger:
        graph.invoke({"topic": "cats", "notes": []}, {"callbacks": [logger], "metadata": {"episode": "mine"}})
    records = {r["node"]: r for r in library.find(episode="mine")}
    assert set(records) == {"write", "edit"}
    assert records["edit"].text == "edited draft"
    assert records["edit"].messages == [{"role": "user", "content": "draft about cats"}]


def test_a_failed_episode_keeps_what_it_made_marked_as_failed(library):
    class State(TypedDict):
        q: str

    model = FakeListChatModel(responses=["partial work"])

    def work(state):
        model.invoke(state["q"])
        return {}

    def crash(state):
        raise RuntimeError("tool exploded")

    builder = StateGraph(State)
    builder.add_node("work", work)
    builder.add_node("crash", crash)
    builder.add_edge(START, "work")
    builder.add_edge("work", "crash")
    with ExperienceLogger(library) as logger, pytest.raises(RuntimeError):
        builder.compile().invoke({"q": "go"}, {"callbacks": [logger], "metadata": {"episode": "boom"}})
    (record,) = library.find(episode="boom")
    assert record.text == "partial work" and "tool exploded" in record["error"]


def test_failed_writes_are_kept_for_the_next_flush(library, monkeypatch):
    logger = ExperienceLogger(library, flush_at=10_000)
    play_graph = build_debate_graph(scripted_pool(debater_0=["1"]), DebateConfig(n_agents=1, n_rounds=1))
    play_graph.invoke({"question": "q"}, {"callbacks": [logger], "metadata": {"episode": "x"}})

    def refuse(records):
        raise ConnectionError("server gone")

    monkeypatch.setattr(library, "add", refuse)
    with pytest.raises(ConnectionError):
        logger.flush()
    monkeypatch.undo()
    assert logger.flush() == 1 and library.count() == 1


def test_semantic_search_finds_records_by_their_input(library):
    library.add([
        ExperienceRecord("a", "Paris.", [{"role": "user", "content": "What is the capital of France?"}], {"role": "x"}),
        ExperienceRecord("b", "13", [{"role": "user", "content": "What is seven plus six?"}], {"role": "x"}),
    ])
    assert library.search("arithmetic sum of numbers", n=1)[0].id == "b"


def test_a_model_called_outside_any_graph_is_logged_too(library):
    model = FakeListChatModel(responses=["hello"])
    with ExperienceLogger(library) as logger:
        model.invoke("hi", {"callbacks": [logger], "metadata": {"episode": "bare"}})
    (record,) = library.find(episode="bare")
    assert record.text == "hello" and record.messages == [{"role": "user", "content": "hi"}]


def test_find_returns_every_match_across_pages(tmp_path):
    library = ExperienceLibrary(tmp_path / "paged", page_size=7)
    records = [ExperienceRecord(f"r{i}", str(i), [{"role": "user", "content": f"q{i}"}],
                                {"episode": f"e{i:02d}", "run": "a" if i % 3 else "b"}) for i in range(30)]
    library.add(records)
    found = library.find(run="a")
    assert [r.id for r in found] == [r.id for r in records if r["run"] == "a"]  # 20 records: three pages
    assert len(library.find()) == 30 and len({r.id for r in library.find()}) == 30
    assert library.count(run="a") == 20 and library.count() == 30  # counted across pages too
    with pytest.raises(ValueError, match="page_size"):
        ExperienceLibrary(tmp_path / "bad", page_size=0)


@pytest.mark.parametrize("damage", ["the database", "the vector index"])
def test_a_damaged_library_is_one_error_when_it_opens(tmp_path, damage):
    location = tmp_path / "library"
    library = ExperienceLibrary(location)
    # For the index, enough records that Chroma writes it to disk (it syncs every 1,000).
    library.add([ExperienceRecord(f"r{i}", f"answer {i}", [{"role": "user", "content": f"question {i}"}], {"run": "a"})
                 for i in range(1100 if damage == "the vector index" else 5)])
    del library
    SharedSystemClient.clear_system_cache()  # as a new process would, read the files again
    files = ([location / "chroma.sqlite3"] if damage == "the database"
             else [f for f in location.glob("*/*") if f.is_file()])
    assert files
    for file in files:
        file.write_bytes(b"\x07" * max(file.stat().st_size, 64))
    with pytest.raises(LibraryUnavailable, match=f"cannot open the experience library at {location}"):
        ExperienceLibrary(location)
