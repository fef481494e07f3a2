"""The record contract: every field a protocol's graph and annotator write is a field of the written schema."""

from __future__ import annotations

import pytest
from fakes import scripted_pool

from moot.nodes import ChainConfig, CritiqueConfig, DebateConfig, NegotiationConfig, game_spec
from moot.protocols import PROTOCOLS
from moot.stores import RECORD_FIELDS, ExperienceLibrary, ExperienceLogger, Outcome

EPISODE = {"run": "r-1", "iteration": 0, "split": "test", "setting": "s", "episode": "test/s/it0/p1", "problem_id": "p1",
           "question": "What is 3 + 4?", "target": "7", "task": "arithmetic"}
PLAYS = {
    "debate": (DebateConfig(n_agents=2, n_rounds=2), dict(debater_0=["7"] * 2, debater_1=["8", "7"])),
    "chain": (ChainConfig(), {"domain_expert": ["add"], "mathematician": ["3+4=7"], "summarizer": ["7"]}),
    "critique": (CritiqueConfig(), dict(actor=["7"], judge=["True"])),
    "negotiation": (NegotiationConfig(game_spec("ultimatum")), {"player_1": ["ACTION: PROPOSE give=X:10"],
                                                               "player_2": ["ACTION: ACCEPT"]}),
}


@pytest.mark.parametrize("name", sorted(PLAYS))
def test_every_logged_field_is_in_the_schema(name, tmp_path):
    protocol, (config, replies) = PROTOCOLS[name], PLAYS[name]
    library = ExperienceLibrary(tmp_path / "lib")
    with ExperienceLogger(library, annotate=protocol.annotate) as logger:
        protocol.build(scripted_pool(**replies), config).invoke(
            {"question": EPISODE["question"]} if name != "negotiation" else {},
            {"callbacks": [logger], "metadata": {**EPISODE, "protocol": name}})
    records = library.find(run="r-1")
    assert records
    unknown = {key for r in records for key in r.metadata} - RECORD_FIELDS
    assert unknown == set(), f"{name} writes fields the schema does not describe: {sorted(unknown)}"
    assert {key for r in records for key in r.metadata} & set(Outcome.__annotations__), "no outcome was annotated"


def test_the_base_model_is_recorded_by_name_not_by_a_folder_of_this_machine(tiny_model_dir, tmp_path):
    from moot.nodes import LocalEngine, LocalModelPool

    library = ExperienceLibrary(tmp_path / "lib")
    pool = LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32"))
    with ExperienceLogger(library) as logger:
        pool.model("solver", max_tokens=2).invoke("Hi", {"callbacks": [logger], "metadata": {"episode": "e"}})
    (record,) = library.find(episode="e")
    assert record["adapter"] == tiny_model_dir.name and "/" not in str(record["adapter"])
