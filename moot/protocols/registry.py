"""Every protocol by name: one instance of each, shared by the loops."""

from __future__ import annotations

from .base import Protocol
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
