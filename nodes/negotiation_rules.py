"""Negotiation games: rules, action parsing and payoffs, all in code (never judged by an LLM).

Three games, after NegotiationArena as used by SiriuS:

========================  =========================================  =========================  =========
game                      start                                      utility                    max turns
========================  =========================================  =========================  =========
``resource-exchange``     player-1: 25 X + 5 Y; player-2: 5 X + 25 Y  X + Y held at the end      8
``sell-buy``              seller: 1 X (values it 40);                seller: price - 40;        10
                          buyer: 100 ZUP (values X at 60)            buyer: 60 - price
``ultimatum``             player-1 holds 100; player-2 holds 0       the share each ends with   8
========================  =========================================  =========================  =========

Every number is a parameter (:func:`game_spec`; ``variant="sirius-generalization"`` gives
SiriuS's harder settings: 35/15 resources, 1000 to split, valuations 30/70).

Each turn ends with one action line that the referee parses and checks::

    ACTION: PROPOSE give X=5 Y=0 get X=0 Y=5     (resource-exchange)
    ACTION: PROPOSE price=55                      (sell-buy)
    ACTION: PROPOSE mine=60 yours=40              (ultimatum)
    ACTION: ACCEPT
    ACTION: REJECT

Rules: an offer must be something the proposer holds (and ask only what the other holds);
ACCEPT only closes the other player's standing offer. **A malformed or invalid action is
recorded as such and counts as a REJECT**: the standing offer is withdrawn and play
passes on. The game ends on an accepted offer or after ``max_turns`` turns; without a
deal every player keeps what it holds (in the ultimatum, the 100 is lost to both).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

GameName = Literal["resource-exchange", "sell-buy", "ultimatum"]
GAMES: tuple[GameName, ...] = ("resource-exchange", "sell-buy", "ultimatum")


@dataclass(frozen=True)
class GameSpec:
    """The numbers of one game.

    Attributes:
        name: Which game.
        players: Seat names, first mover first.
        holdings: What each player starts with.
        values: How much each player values one unit of each resource (sell-buy).
        max_turns: Turns (one player's message each) before the game ends without a deal.
    """

    name: GameName
    players: tuple[str, str]
    holdings: dict[str, dict[str, int]]
    max_turns: int
    values: dict[str, dict[str, int]] = field(default_factory=dict)

    def other(self, player: str) -> str:
        return self.players[1] if player == self.players[0] else self.players[0]


def game_spec(name: str, variant: Literal["default", "sirius-generalization"] = "default", **overrides) -> GameSpec:
    """The spec of a game, in its default or SiriuS-generalization numbers.

    Examples:
        >>> game_spec("sell-buy").values["buyer"]["X"], game_spec("sell-buy", "sirius-generalization").values["buyer"]["X"]
        (60, 70)
    """
    general = variant == "sirius-generalization"
    if name == "resource-exchange":
        big, small = (35, 15) if general else (25, 5)
        spec = GameSpec(name, ("player-1", "player-2"),
                        {"player-1": {"X": big, "Y": small}, "player-2": {"X": small, "Y": big}}, max_turns=8)
    elif name == "sell-buy":
        seller_value, buyer_value = (30, 70) if general else (40, 60)
        spec = GameSpec(name, ("seller", "buyer"), {"seller": {"X": 1, "ZUP": 0}, "buyer": {"X": 0, "ZUP": 100}},
                        max_turns=10, values={"seller": {"X": seller_value}, "buyer": {"X": buyer_value}})
    elif name == "ultimatum":
        total = 1000 if general else 100
        spec = GameSpec(name, ("player-1", "player-2"), {"player-1": {"ZUP": total}, "player-2": {"ZUP": 0}}, max_turns=8)
    else:
        raise ValueError(f"unknown game {name!r}; choose one of {', '.join(GAMES)}")
    return replace(spec, **overrides) if overrides else spec


@dataclass(frozen=True)
class Offer:
    """A standing proposal: what moves from the proposer to the other and back."""

    proposer: str
    give: dict[str, int]
    get: dict[str, int]


@dataclass(frozen=True)
class Action:
    """A parsed action; ``kind`` is ``invalid`` when it could not be read or breaks a rule."""

    kind: Literal["propose", "accept", "reject", "invalid"]
    offer: Offer | None = None
    reason: str = ""


_ACTION_LINE = re.compile(r"ACTION\s*:\s*(.+)", re.IGNORECASE)
_PAIR = re.compile(r"([A-Za-z]+)\s*=\s*(-?\d+)")


def _pairs(text: str) -> dict[str, int]:
    return {k.lower(): int(v) for k, v in _PAIR.findall(text)}


def parse_action(spec: GameSpec, player: str, text: str) -> Action:
    """Read the last ``ACTION:`` line of a message into an :class:`Action` (not yet validated).

    Examples:
        >>> parse_action(game_spec("sell-buy"), "buyer", "I can pay 55. ACTION: PROPOSE price=55").offer.give
        {'ZUP': 55}
        >>> parse_action(game_spec("ultimatum"), "player-1", "no action here").kind
        'invalid'
    """
    lines = _ACTION_LINE.findall(text or "")
    if not lines:
        return Action("invalid", reason="no ACTION line")
    body = lines[-1].strip()
    verb = body.split()[0].upper().strip(".,!") if body.split() else ""
    if verb in ("ACCEPT", "REJECT"):
        return Action(verb.lower())  # type: ignore[arg-type]
    if verb != "PROPOSE":
        return Action("invalid", reason=f"unknown action {verb or body!r}")
    try:
        if spec.name == "resource-exchange":
            lowered = body.lower()
            if "give" not in lowered or "get" not in lowered:
                return Action("invalid", reason="a proposal needs 'give ...' and 'get ...'")
            give_part, get_part = lowered.split("give", 1)[1].split("get", 1)
            give, get = _pairs(give_part), _pairs(get_part)
            resources = {r.lower(): r for r in spec.holdings[player]}
            if not give and not get or (set(give) | set(get)) - set(resources):
                return Action("invalid", reason=f"quantities must name {sorted(resources.values())}")
            offer = Offer(player, {r: give.get(k, 0) for k, r in sorted(resources.items())},
                          {r: get.get(k, 0) for k, r in sorted(resources.items())})
        elif spec.name == "sell-buy":
            price = _pairs(body).get("price")
            if price is None:
                return Action("invalid", reason="a proposal needs price=N")
            seller, buyer = spec.players
            if player == seller:
                offer = Offer(player, {"X": 1}, {"ZUP": price})
            else:
                offer = Offer(player, {"ZUP": price}, {"X": 1})
        else:
            pairs = _pairs(body)
            if "mine" not in pairs or "yours" not in pairs:
                return Action("invalid", reason="a proposal needs mine=N yours=M")
            pot = spec.holdings[spec.players[0]]["ZUP"]
            if pairs["mine"] + pairs["yours"] != pot:
                return Action("invalid", reason=f"mine + yours must equal the pot ({pot})")
            # The holder of the pot gives the other its share; the other asks for its share.
            if player == spec.players[0]:
                offer = Offer(player, {"ZUP": pairs["yours"]}, {"ZUP": 0})
            else:
                offer = Offer(player, {"ZUP": 0}, {"ZUP": pairs["mine"]})
    except (ValueError, IndexError) as error:
        return Action("invalid", reason=f"unreadable proposal: {error}")
    return Action("propose", offer)


@dataclass
class GameState:
    """Holdings, the standing offer and the record of play."""

    spec: GameSpec
    holdings: dict[str, dict[str, int]]
    turn: int = 0
    offer: Offer | None = None
    deal: Offer | None = None
    invalid: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, spec: GameSpec) -> "GameState":
        return cls(spec, {p: dict(h) for p, h in spec.holdings.items()}, invalid={p: 0 for p in spec.players})

    @property
    def to_move(self) -> str:
        return self.spec.players[self.turn % 2]

    @property
    def over(self) -> bool:
        return self.deal is not None or self.turn >= self.spec.max_turns


def check(state: GameState, player: str, action: Action) -> Action:
    """Validate ``action`` against the rules; returns it, or an ``invalid`` action saying why."""
    if action.kind == "accept":
        if state.offer is None:
            return Action("invalid", reason="ACCEPT with no standing offer")
        if state.offer.proposer == player:
            return Action("invalid", reason="cannot accept one's own offer")
    if action.kind == "propose" and action.offer is not None:
        other = state.spec.other(player)
        offer = action.offer
        if any(v < 0 for v in (*offer.give.values(), *offer.get.values())):
            return Action("invalid", reason="quantities cannot be negative")
        short = {r: q for r, q in offer.give.items() if q > state.holdings[player].get(r, 0)}
        if short:
            return Action("invalid", reason=f"{player} offers more than it holds: {short}")
        asked = {r: q for r, q in offer.get.items() if q > state.holdings[other].get(r, 0)}
        if asked:
            return Action("invalid", reason=f"asks for more than {other} holds: {asked}")
    return action


def apply(state: GameState, player: str, action: Action) -> Action:
    """Play one checked turn. Invalid and reject both withdraw the standing offer."""
    action = check(state, player, action)
    if action.kind == "invalid":
        state.invalid[player] += 1
        state.offer = None
    elif action.kind == "reject":
        state.offer = None
    elif action.kind == "propose":
        state.offer = action.offer
    elif action.kind == "accept" and state.offer is not None:
        offer, other = state.offer, state.offer.proposer
        for resource, quantity in offer.give.items():
            state.holdings[other][resource] -= quantity
            state.holdings[player][resource] = state.holdings[player].get(resource, 0) + quantity
        for resource, quantity in offer.get.items():
            state.holdings[player][resource] -= quantity
            state.holdings[other][resource] = state.holdings[other].get(resource, 0) + quantity
        state.deal, state.offer = offer, None
    state.turn += 1
    return action


def utilities(state: GameState) -> dict[str, float]:
    """Each player's payoff at the end of the game (see the module table)."""
    spec, held = state.spec, state.holdings
    if spec.name == "resource-exchange":
        return {p: float(sum(held[p].values())) for p in spec.players}
    if spec.name == "sell-buy":
        seller, buyer = spec.players
        if state.deal is None:
            return {seller: 0.0, buyer: 0.0}
        price = held[seller]["ZUP"] - spec.holdings[seller]["ZUP"]
        return {seller: float(price - spec.values[seller]["X"]), buyer: float(spec.values[buyer]["X"] - price)}
    if state.deal is None:
        return {p: 0.0 for p in spec.players}
    return {p: float(held[p]["ZUP"]) for p in spec.players}
