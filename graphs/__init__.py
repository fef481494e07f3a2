"""Graphs wire nodes into protocols (LangGraph state machines), one module per protocol."""

from .chain import ChainState, build_chain_graph, chain_outcome
from .critique import CritiqueState, build_critique_graph, critique_outcome
from .debate import DebateState, build_debate_graph, debate_outcome
from .negotiation import NegotiationState, build_negotiation_graph, negotiation_outcome

__all__ = [
    "ChainState",
    "CritiqueState",
    "DebateState",
    "NegotiationState",
    "build_chain_graph",
    "build_critique_graph",
    "build_debate_graph",
    "build_negotiation_graph",
    "chain_outcome",
    "critique_outcome",
    "debate_outcome",
    "negotiation_outcome",
]
