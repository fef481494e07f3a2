"""Graphs wire nodes into protocols (LangGraph state machines), one module per protocol."""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "chain": ["ChainState", "build_chain_graph", "chain_outcome"],
        "critique": ["CritiqueState", "build_critique_graph", "critique_outcome"],
        "debate": ["DebateState", "build_debate_graph", "debate_outcome"],
        "negotiation": ["NegotiationState", "build_negotiation_graph", "negotiation_outcome"],
    },
)
