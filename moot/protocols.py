"""Protocols the improve loop can run: each is a graph plus how to judge and curate it.

The loop is written once; a protocol only says how to build its graph, how to annotate
logged outputs with outcomes, how to turn the library into per-role training sets, and
what its single-agent baseline is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from langgraph.graph.state import CompiledStateGraph

from moot.graphs.debate import build_debate_graph, debate_outcome
from moot.nodes.debate_agent import DebateConfig
from moot.nodes.model_pool import ModelPool
from moot.stores import Annotator, ExperienceRecord
from moot.training import CurationConfig, TrainingExample, debate_training_sets


@dataclass(frozen=True)
class Protocol:
    """How the improve loop plays, judges and learns from one kind of graph."""

    name: str
    build: Callable[[ModelPool, Any], CompiledStateGraph]
    annotate: Annotator
    curate: Callable[[list[ExperienceRecord], CurationConfig], dict[str, list[TrainingExample]]]
    roles: Callable[[Any], list[str]]
    single_agent: Callable[[Any], Any]
    final_answer: Callable[[dict[str, Any]], str | None]


DEBATE = Protocol(
    name="debate",
    build=build_debate_graph,
    annotate=debate_outcome,
    curate=debate_training_sets,
    roles=lambda config: config.all_roles(),
    single_agent=lambda config: replace(config, n_agents=1, n_rounds=1, temperature=0.0),
    final_answer=lambda state: state.get("final_answer"),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (DEBATE,)}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; available: {', '.join(sorted(PROTOCOLS))}")
    return PROTOCOLS[name]


__all__ = ["DEBATE", "PROTOCOLS", "Protocol", "get_protocol", "DebateConfig"]
