"""The protocol graphs as ``langgraph dev`` serves them (see ``langgraph.json``), on the embedded model.

Every graph shares one :class:`~moot.nodes.serving.LocalModelPool` (one base model in
memory; each role's adapter chosen per call), made on the first request.

    langgraph dev --no-browser --allow-blocking     # the model runs synchronously; then POST /runs/wait {"assistant_id": "debate", "input": {"question": "2 + 3?"}}
"""

from __future__ import annotations

from functools import lru_cache

from langgraph.graph.state import CompiledStateGraph

from moot.graphs import build_chain_graph, build_critique_graph, build_debate_graph
from moot.nodes import ChainConfig, CritiqueConfig, DebateConfig
from moot.nodes.serving import LocalModelPool


@lru_cache(maxsize=1)
def shared_pool() -> LocalModelPool:
    return LocalModelPool()


def debate() -> CompiledStateGraph:
    return build_debate_graph(shared_pool(), DebateConfig())


def chain() -> CompiledStateGraph:
    return build_chain_graph(shared_pool(), ChainConfig())


def critique() -> CompiledStateGraph:
    return build_critique_graph(shared_pool(), CritiqueConfig())
