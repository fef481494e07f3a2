"""Each protocol graph's wiring, kept as Mermaid text, so that a change of shape shows in review.

After an intended change, rewrite the snapshots with ``MOOT_UPDATE_SNAPSHOTS=1 pytest tests/test_wiring_snapshots.py``
and commit the diff of ``tests/snapshots/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langchain_core.language_models import FakeListChatModel

from moot.graphs import build_chain_graph, build_critique_graph, build_debate_graph, build_negotiation_graph
from moot.nodes import SharedModelPool
from moot.nodes.debate import DebateConfig
from moot.nodes.negotiation import NegotiationConfig
from moot.nodes.negotiation_rules import game_spec

SNAPSHOTS = Path(__file__).parent / "snapshots"
POOL = SharedModelPool(FakeListChatModel(responses=["1"]))
GRAPHS = {
    "debate": lambda: build_debate_graph(POOL, DebateConfig(n_agents=3, n_rounds=2)),
    "debate-summarized": lambda: build_debate_graph(POOL, DebateConfig(n_agents=3, n_rounds=2, summarize=True)),
    "chain": lambda: build_chain_graph(POOL),
    "critique": lambda: build_critique_graph(POOL),
    "negotiation": lambda: build_negotiation_graph(POOL, NegotiationConfig(game_spec("sell-buy"))),
}


def wiring(graph) -> str:
    """The nodes and edges of a compiled graph's Mermaid text, without its styling."""
    lines = graph.get_graph().draw_mermaid().splitlines()
    start = lines.index("graph TD;")
    return "\n".join(line.strip() for line in lines[start:] if not line.strip().startswith("classDef")) + "\n"


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_protocol_wiring_matches_its_snapshot(name):
    text, path = wiring(GRAPHS[name]()), SNAPSHOTS / f"{name}.mmd"
    if os.environ.get("MOOT_UPDATE_SNAPSHOTS"):
        path.write_text(text)
    assert path.is_file(), f"no snapshot for {name}; run with MOOT_UPDATE_SNAPSHOTS=1 to write it"
    assert text == path.read_text(), f"the wiring of {name} changed; if intended, update the snapshot"
