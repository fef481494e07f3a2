"""Protocols: each kind of graph as the loops see it (see :mod:`moot.protocols.base` for the contract).

One module per protocol, under the same name as its graph (``moot.graphs``), nodes
(``moot.nodes``) and curation (``moot.training``) modules; :mod:`~moot.protocols.registry`
holds one instance of each by name.
"""

import lazy_loader

# Submodules load on first use, so that a light module (a config, the CLI) imports without torch.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "base": ["Protocol", "RepairableProtocol"],
        "chain": ["ChainProtocol"],
        "critique": ["CritiqueProtocol"],
        "debate": ["DebateProtocol"],
        "negotiation": ["NegotiationProtocol"],
        "registry": ["CHAIN", "CRITIQUE", "DEBATE", "NEGOTIATION", "PROTOCOLS", "get_protocol"],
        "user_graph": ["GraphProtocol"],
        "user_graph_config": ["GraphConfig"],
    },
)
