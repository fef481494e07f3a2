"""Graphs wire nodes into protocols (LangGraph state machines)."""

from .debate import DebateState, build_debate_graph, debate_outcome

__all__ = ["DebateState", "build_debate_graph", "debate_outcome"]
