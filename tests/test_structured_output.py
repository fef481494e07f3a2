"""Structured output and tool calls under constrained decoding, on the tiny in-process (random) model.

A random model follows no instruction at all, so every valid reply here is the grammar's
doing: validity by construction, whatever the weights.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from moot.nodes import LocalChatModel, LocalEngine, LocalModelPool, NegotiationConfig
from moot.graphs import build_negotiation_graph
from moot.nodes.negotiation import make_player_node
from moot.nodes.negotiation_rules import GameState, game_spec, parse_action
from moot.nodes.serving.constrained_decoding import Grammar


class Verdict(BaseModel):
    answer: int = Field(ge=0, le=99)
    sure: bool
    label: Literal["sum", "product"]


@pytest.fixture(scope="module")
def engine(tiny_model_dir_each_seed) -> LocalEngine:
    return LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype="float32")


def test_structured_output_is_valid_by_construction(engine):
    structured = LocalChatModel(engine=engine, max_tokens=40, temperature=1.0).with_structured_output(Verdict)
    replies = [structured.invoke(f"What is {i} + {i}?") for i in range(6)]
    assert all(isinstance(r, Verdict) and 0 <= r.answer <= 99 for r in replies)


class Note(BaseModel):
    title: str
    body: str


def test_free_strings_stay_within_the_models_limit(engine):
    # A random model at temperature 1 rarely closes a string by itself: the limit closes it.
    structured = LocalChatModel(engine=engine, temperature=1.0, max_string_chars=6).with_structured_output(Note)
    notes = [structured.invoke(f"Note {i}") for i in range(3)]
    assert all(len(n.title) <= 6 and len(n.body) <= 6 for n in notes)
    assert any(len(n.title) == 6 or len(n.body) == 6 for n in notes)  # reached, so it is what stopped them


def test_each_row_of_a_mixed_batch_follows_its_own_grammar(engine):
    chat = LocalChatModel(engine=engine, max_tokens=40, temperature=1.0)
    json_reply = chat.with_structured_output({"type": "object", "properties": {"n": {"enum": [1, 2, 3]}},
                                              "required": ["n"], "additionalProperties": False})
    code = chat.bind(grammar=Grammar.regex(r"[A-Z]{3}-[0-9]{2}"))
    jobs = [lambda: json_reply.invoke("Pick a number."), lambda: code.invoke("Give a code."),
            lambda: chat.invoke("Say anything.")] * 3
    with ThreadPoolExecutor(len(jobs)) as workers:  # decoded together, one batch
        results = list(workers.map(lambda job: job(), jobs))
    assert all(r in ({"n": 1}, {"n": 2}, {"n": 3}) for r in results[0::3])
    assert all(re.fullmatch(r"[A-Z]{3}-[0-9]{2}", r.content) for r in results[1::3])
    # the free rows were not held to a neighbour's grammar: sampled freely, none is a code
    assert not any(re.fullmatch(r"[A-Z]{3}-[0-9]{2}", r.content) for r in results[2::3])
    assert all(r.usage_metadata["output_tokens"] > 0 for r in results[2::3])


class add(BaseModel):  # noqa: N801 - a tool's name is what the model writes
    """Add two numbers."""

    # Bounded, so that a random model's digits end within max_tokens (a real model stops by itself).
    a: int = Field(ge=0, le=99)
    b: int = Field(ge=0, le=99)


class Weather(BaseModel):
    """Look up the weather in a city."""

    city: Literal["Paris", "Rome"]


def test_bound_tools_come_back_as_valid_tool_calls(engine):
    chat = LocalChatModel(engine=engine, max_tokens=48, temperature=1.0).bind_tools([add, Weather])
    for i in range(4):
        (call,) = chat.invoke(f"Question {i}").tool_calls
        assert call["name"] in ("add", "Weather")
        if call["name"] == "add":
            assert set(call["args"]) == {"a", "b"} and all(isinstance(v, int) for v in call["args"].values())
        else:
            assert call["args"] in ({"city": "Paris"}, {"city": "Rome"})
    forced = LocalChatModel(engine=engine, max_tokens=48).bind_tools([add, Weather], tool_choice="Weather")
    assert forced.invoke("Anything").tool_calls[0]["name"] == "Weather"


def test_a_bad_grammar_or_the_static_scheduler_is_refused_before_decoding(engine, tiny_model_dir_each_seed):
    with pytest.raises(ValueError, match="grammar"):
        LocalChatModel(engine=engine).bind(grammar=Grammar("not a grammar")).invoke("hi")
    static = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype="float32", scheduler="static")
    with pytest.raises(ValueError, match="continuous scheduler"):
        LocalChatModel(engine=static).with_structured_output(Verdict).invoke("hi")


@pytest.mark.parametrize("game", ["sell-buy", "ultimatum", "resource-exchange"])
def test_a_constrained_negotiator_only_makes_legal_moves(engine, game):
    # the random tiny model writes no action on its own; under the grammar every move of a
    # whole game is one the referee accepts (numbers within holdings, ACCEPT only of an offer)
    pool = LocalModelPool(engine)
    spec = game_spec(game)
    free = make_player_node(pool, NegotiationConfig(spec, temperature=1.0))
    assert parse_action(spec, spec.players[0], free({"game": GameState.start(spec)})["pending"]).kind == "invalid"
    graph = build_negotiation_graph(pool, NegotiationConfig(spec, temperature=1.0, constrain_actions=True))
    for _ in range(2):
        turns = graph.invoke({})["turns"]
        assert turns and all(t["valid"] for t in turns), [(t["text"], t["reason"]) for t in turns if not t["valid"]]
