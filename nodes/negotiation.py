"""A negotiation player's turn: read the game so far, write a message ending in an action."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypedDict

from .negotiation_rules import GameSpec, GameState, Offer, apply, parse_action
from .serving.constrained_decoding import regex_constrained

if TYPE_CHECKING:
    from .serving.model_pool import ModelPool

_ACTIONS = {
    "resource-exchange": "ACTION: PROPOSE give X=<n> Y=<n> get X=<n> Y=<n>",
    "sell-buy": "ACTION: PROPOSE price=<n>",
    "ultimatum": "ACTION: PROPOSE mine=<n> yours=<n>",
}
# A constrained reply: one short sentence, then the action line in the game's own format.
_SENTENCE_CHARS = 60


def _propose(spec: GameSpec, numbers: list[str]) -> str:
    # the templates hold only words, spaces, "=" and <n>: nothing a regex reads as syntax
    parts = _ACTIONS[spec.name].removeprefix("ACTION: ").split("<n>")
    return "".join(part + number for part, number in zip(parts, [*numbers, ""]))


def _up_to(limit: int) -> str:
    return "(" + "|".join(str(n) for n in range(max(0, limit) + 1)) + ")"


def action_pattern(game: GameState, seat: str) -> str:
    """The regex a constrained reply of ``seat`` matches: a short sentence, then one move the referee accepts.

    Each number is bounded by what the side that pays it holds, an ultimatum's split adds
    up to the pot, and ``ACCEPT`` is offered only when the other side has an offer standing:
    every constrained move is legal, not only well-formed.

    Examples:
        >>> from moot.nodes.negotiation_rules import game_spec
        >>> import re
        >>> game = GameState.start(game_spec("sell-buy"))
        >>> pattern = action_pattern(game, "seller")
        >>> [bool(re.fullmatch(pattern, f"Fair. ACTION: {move}")) for move in ("PROPOSE price=55", "PROPOSE price=900", "ACCEPT")]
        [True, False, False]
    """
    spec, other = game.spec, game.spec.other(seat)
    if spec.name == "ultimatum":
        pot = game.holdings[spec.players[0]]["ZUP"]
        propose = "PROPOSE mine=(" + "|".join(f"{mine} yours={pot - mine}" for mine in range(pot + 1)) + ")"
    elif spec.name == "sell-buy":
        buyer = spec.players[1]
        propose = _propose(spec, [_up_to(game.holdings[buyer]["ZUP"])])
    else:  # resource-exchange: give X, Y from one's own holdings, get X, Y from the other's
        mine, theirs = game.holdings[seat], game.holdings[other]
        propose = _propose(spec, [_up_to(mine["X"]), _up_to(mine["Y"]), _up_to(theirs["X"]), _up_to(theirs["Y"])])
    moves = ["REJECT", propose]
    if game.offer is not None and game.offer.proposer != seat:
        moves.insert(0, "ACCEPT")
    return rf"[A-Za-z0-9 ,.'!?$-]{{1,{_SENTENCE_CHARS}}} ACTION: ({'|'.join(moves)})"


def longest_action_reply(spec: GameSpec) -> int:
    """The most tokens a reply matching :func:`action_pattern` can take (every token is at least
    one character), so that a constrained reply is never cut off before its action."""
    return _SENTENCE_CHARS + len(" ACTION: ") + len(_propose(spec, ["999"] * 4))


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
            a role that never trains (e.g. ``"frozen-base"``) to play against the base.
        history_turns: Most recent turns shown to a player; the status line carries the
            standing offer, and short prompts keep training and prefill cheap.
        constrain_actions: Decode every reply under a grammar that follows the game's state
            (:func:`action_pattern`): a short sentence, then a legal move. An alternative to
            the scripted warm start for teaching the format.
    """

    game: GameSpec
    seats: dict[str, str] = field(default_factory=dict)
    temperature: float = 0.7
    max_tokens: int = 40
    history_turns: int = 2
    constrain_actions: bool = False

    def role(self, seat: str) -> str:
        return self.seats.get(seat, seat)

    def all_roles(self) -> list[str]:
        return [self.role(seat) for seat in self.game.players]


def referee_turn(game: GameState, seat: str, role: str, text: str) -> Turn:
    """Rule on ``text`` as ``seat``'s move: apply it to ``game`` (in place) and record the turn."""
    ruled = apply(game, seat, parse_action(game.spec, seat, text))
    return Turn(turn=game.turn - 1, player=seat, role=role, text=text, action=ruled.kind,
                valid=ruled.kind != "invalid", reason=ruled.reason)


def describe_offer(offer: Offer | None) -> str:
    if offer is None:
        return "none"
    gives = ", ".join(f"{q} {r}" for r, q in offer.give.items() if q)
    gets = ", ".join(f"{q} {r}" for r, q in offer.get.items() if q)
    return f"{offer.proposer} gives {gives or 'nothing'} and gets {gets or 'nothing'}"


def player_messages(config: NegotiationConfig, game: GameState, player: str, turns: list[Turn]) -> list[dict[str, str]]:
    """The prompt for ``player``'s turn: rules and holdings, then the recent turns.

    The other player's messages are user turns and the player's own are assistant turns,
    so a trained adapter learns to continue a negotiation, not to transcribe one.
    """
    spec = game.spec
    seller, buyer = spec.players
    goal = _GOALS[spec.name].format(
        seller_value=spec.values.get(seller, {}).get("X", 0), buyer_value=spec.values.get(buyer, {}).get("X", 0),
        pot=spec.holdings[spec.players[0]].get("ZUP", 0),
    )
    holdings = ", ".join(f"{q} {r}" for r, q in game.holdings[player].items())
    system = (
        f"You are {player} in a negotiation with {spec.other(player)}. {goal} You hold {holdings}. "
        f"The game ends after {spec.max_turns} turns. Reply with one short sentence, then one action: "
        f"{_ACTIONS[spec.name]} or ACTION: ACCEPT or ACTION: REJECT."
    )
    messages = [{"role": "system", "content": system}]
    status = f"(Turn {game.turn + 1} of {spec.max_turns}. Standing offer: {describe_offer(game.offer)}.)"
    recent = turns[-config.history_turns:]
    if not recent or recent[0]["player"] == player:
        messages.append({"role": "user", "content": "The negotiation starts."})
    for turn in recent:
        if turn["player"] == player:
            messages.append({"role": "assistant", "content": turn["text"]})
        else:
            messages.append({"role": "user", "content": f"{turn['player'].capitalize()}: {turn['text']}"})
    messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n{status}"}
    return messages


def make_player_node(pool: ModelPool, config: NegotiationConfig) -> Callable[[dict], dict]:
    """A node that lets the player to move write its message (the referee judges it next)."""

    def player(state: dict) -> dict:
        game: GameState = state["game"]
        seat = game.to_move
        role = config.role(seat)
        if config.constrain_actions:
            # the grammar ends the reply at its action; the limit only has to leave room for it
            max_tokens = max(config.max_tokens, longest_action_reply(game.spec))
            model = regex_constrained(pool.model(role, temperature=config.temperature, max_tokens=max_tokens),
                                      action_pattern(game, seat))
        else:
            model = pool.model(role, temperature=config.temperature, max_tokens=config.max_tokens)
        messages = player_messages(config, game, seat, state.get("turns", []))
        reply = model.with_config(
            metadata={"role": role, "seat": seat, "round": game.turn, "agent": config.game.players.index(seat)}
        ).invoke(messages)
        return {"pending": str(reply.content)}

    return player
