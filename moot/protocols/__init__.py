"""Protocols: each kind of graph as the loops see it (see :mod:`moot.protocols.base` for the contract).

One module per protocol, under the same name as its graph (``moot.graphs``), nodes
(``moot.nodes``) and curation (``moot.training``) modules.
"""

from __future__ import annotations

from .base import Protocol, RepairableProtocol
from .chain import ChainProtocol
from .critique import CritiqueProtocol
from .debate import DebateProtocol
from .negotiation import NegotiationProtocol

DEBATE = DebateProtocol()
CHAIN = ChainProtocol()
CRITIQUE = CritiqueProtocol()
NEGOTIATION = NegotiationProtocol()

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (DEBATE, CHAIN, CRITIQUE, NEGOTIATION)}
"""Every protocol by name; ``moot improve`` plays those with a task of questions and answers."""


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; available: {', '.join(sorted(PROTOCOLS))}")
    return PROTOCOLS[name]


__all__ = [
    "CHAIN", "CRITIQUE", "DEBATE", "NEGOTIATION", "PROTOCOLS", "ChainProtocol", "CritiqueProtocol", "DebateProtocol",
    "NegotiationProtocol", "Protocol", "RepairableProtocol", "get_protocol",
]
