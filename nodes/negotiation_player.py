"""A negotiation player's turn: read the game so far, write a message ending in an action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, TypedDict

from .model_pool import ModelPool
from .negotiation_rules import GameSpec, GameState, Offer

_ACTIONS = {
    "resource-exchange": "ACTION: PROPOSE give X=<n> Y=<n> get X=<n> Y=<n>",
    "sell-buy": "ACTION: PROPOSE price=<n>",
    "ultimatum": "ACTION: PROPOSE mine=<n> yours=<n>",
}
_GOALS = {
    "resource-exchange": "Your score is the total number of X and Y you hold at the end.",
    "sell-buy": "The seller scores the price minus {seller_value}; the buyer scores {buyer_value} minus the price. No deal scores 0.",
    "ultimatum": "Split the pot of {pot} ZUP. Your score is your share; with no deal both get nothing.",
}


class Turn(TypedDict):
    """One turn as the referee recorded it."""

    turn: int
    player: str
    role: str
    text: str
    action: str
    valid: bool
    reason: str


@dataclass(frozen=True)
class NegotiationConfig:
    """A game and how its players are sampled.

    Attributes:
        game: The game's numbers.
        seats: Pool role playing each seat (default: the seat's own name). Point a seat at
            a role with no adapter (e.g. ``"frozen-base"``) to play against the base model.
        history_turns: Most recent turns shown to a player.
    """

    game: GameSpec
    seats: dict[str, str] = field(default_factory=dict)
    temperature: float = 0.7
    max_tokens: int = 40
    history_turns: int = 4

    def role(self, seat: str) -> str:
        return self.seats.get(seat, seat)

    def all_roles(self) -> list[str]:
        return [self.role(seat) for seat in self.game.players]


def describe_offer(offer: Offer | None) -> str:
    if offer is None:
        return "none"
    gives = ", ".join(f"{q} {r}" for r, q in offer.give.items() if q)
    gets = ", ".join(f"{q} {r}" for r, q in offer.get.items() if q)
    return f"{offer.proposer} gives {gives or 'nothing'} and gets {gets or 'nothing'}"


def player_messages(config: NegotiationConfig, game: GameState, player: str, turns: list[Turn]) -> list[dict[str, str]]:
    """The prompt for ``player``'s turn: rules and holdings, recent turns, the standing offer."""
    spec = game.spec
    seller, buyer = spec.players
    goal = _GOALS[spec.name].format(
        seller_value=spec.values.get(seller, {}).get("X", 0), buyer_value=spec.values.get(buyer, {}).get("X", 0),
        pot=spec.holdings[spec.players[0]].get("ZUP", 0),
    )
    holdings = ", ".join(f"{q} {r}" for r, q in game.holdings[player].items())
    system = (
        f"You are {player} in a negotiation with {spec.other(player)}. {goal} You hold {holdings}. "
        f"The game ends after {spec.max_turns} turns. Write one short sentence, then end with exactly one line: "
        f"{_ACTIONS[spec.name]} or ACTION: ACCEPT or ACTION: REJECT."
    )
    recent = "\n".join(f"{t['player']}: {t['text']}" for t in turns[-config.history_turns:]) or "(no messages yet)"
    user = (
        f"Turn {game.turn + 1} of {spec.max_turns}.\nConversation:\n{recent}\n"
        f"Standing offer: {describe_offer(game.offer)}.\nYour message:"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def make_player_node(pool: ModelPool, config: NegotiationConfig) -> Callable[[dict], dict]:
    """A node that lets the player to move write its message (the referee judges it next)."""

    def player(state: dict) -> dict:
        game: GameState = state["game"]
        seat = game.to_move
        role = config.role(seat)
        model = pool.model(role, temperature=config.temperature, max_tokens=config.max_tokens)
        messages = player_messages(config, game, seat, state.get("turns", []))
        reply = model.with_config(
            metadata={"role": role, "seat": seat, "round": game.turn, "agent": config.game.players.index(seat)}
        ).invoke(messages)
        return {"pending": str(reply.content)}

    return player
