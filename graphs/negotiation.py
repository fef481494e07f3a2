"""Negotiation self-play: two players take turns; a code referee rules on every action.

player -> referee -> (deal or max turns) -> settle -> END
                  -> player (the other one)
"""

from __future__ import annotations

import copy
import operator
from typing import Annotated, Any, TypedDict, Unpack

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from moot.nodes.negotiation import (
    NegotiationConfig,
    Turn,
    make_player_node,
    referee_turn,
)
from moot.nodes.negotiation_rules import GameState, utilities
from moot.nodes.serving.model_pool import ModelPool
from moot.stores.record_schema import Outcome

from .compile_options import CompileOptions, compile_graph


class NegotiationState(TypedDict, total=False):
    game: GameState
    pending: str
    turns: Annotated[list[Turn], operator.add]
    utilities: dict[str, float]
    deal: bool


def build_negotiation_graph(pool: ModelPool, config: NegotiationConfig,
                            **options: Unpack[CompileOptions]) -> CompiledStateGraph:
    """Compile a game between the seats' roles in ``pool``; the input may be empty.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> from moot.nodes.negotiation_rules import game_spec
        >>> pool = SharedModelPool(FakeListChatModel(responses=["0"]), {
        ...     "seller": FakeListChatModel(responses=["55 is fair. ACTION: PROPOSE price=55"]),
        ...     "buyer": FakeListChatModel(responses=["Deal. ACTION: ACCEPT"])})
        >>> result = build_negotiation_graph(pool, NegotiationConfig(game_spec("sell-buy"))).invoke({})
        >>> result["utilities"], result["deal"]
        ({'seller': 15.0, 'buyer': 5.0}, True)
    """

    def start(state: NegotiationState) -> dict:
        return {"game": GameState.start(config.game)}

    def referee(state: NegotiationState) -> dict:
        game = copy.deepcopy(state["game"])
        seat = game.to_move
        turn = referee_turn(game, seat, config.role(seat), state.get("pending", ""))
        return {"game": game, "turns": [turn], "pending": ""}

    def settle(state: NegotiationState) -> dict:
        game = state["game"]
        return {"utilities": utilities(game), "deal": game.deal is not None}

    builder = StateGraph(NegotiationState)
    builder.add_node("start", start)
    builder.add_node("player", make_player_node(pool, config))
    builder.add_node("referee", referee)
    builder.add_node("settle", settle)
    builder.add_edge(START, "start")
    builder.add_edge("start", "player")
    builder.add_edge("player", "referee")
    builder.add_conditional_edges("referee", lambda s: "settle" if s["game"].over else "player", ["player", "settle"])
    builder.add_edge("settle", END)
    return compile_graph(builder, "negotiation", options)


def negotiation_outcome(state: NegotiationState, record: dict[str, Any]) -> Outcome:
    """A turn's outcome: its seat's utility, whether that seat won, and whether the turn was valid."""
    seat = record.get("seat")
    utility = state.get("utilities", {})
    if seat not in utility:
        return {}
    other = next(p for p in utility if p != seat)
    turn = next((t for t in state.get("turns", []) if t["turn"] == record.get("round")), None)
    return {
        "utility": utility[seat], "won": utility[seat] > utility[other], "deal": bool(state.get("deal")),
        "valid": bool(turn and turn["valid"]), "action": turn["action"] if turn else "", "reward": utility[seat],
    }
