"""How a protocol graph is compiled: the LangGraph options every builder takes, written once."""

from __future__ import annotations

from typing import Any, Sequence, TypedDict

from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph


class CompileOptions(TypedDict, total=False):
    """LangGraph's compile options a builder passes on, so a protocol graph can run as a subgraph.

    Attributes:
        checkpointer: Persist the graph's state per thread (``True`` in a subgraph: share the parent's).
        interrupt_before, interrupt_after: Node names to pause at (human in the loop).
        name: The graph's run name. The protocol's annotators are keyed by it: a renamed
            graph's calls are annotated by ``{name: protocol.annotate}``.
    """

    checkpointer: Any
    interrupt_before: Sequence[str]
    interrupt_after: Sequence[str]
    name: str


def compile_graph(builder: StateGraph, protocol: str, options: CompileOptions) -> CompiledStateGraph:
    """Compile ``builder`` named after its protocol unless ``options`` name it otherwise."""
    return builder.compile(**{"name": protocol, **options})  # type: ignore[arg-type]
