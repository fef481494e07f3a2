"""Warm-start data for negotiation: scripted games that demonstrate the action format.

A 135M model does not write referee-valid actions from instructions alone (measured on
the embedded model: 0 of 156 turns valid), so self-play has nothing to learn from. The
warm start plays games with a scripted player that always writes a valid action, and
turns each scripted turn into a training example built with the very prompt the graph
uses (:func:`~moot.nodes.negotiation.player_messages`).

The script teaches the format, not a strategy: its offers are random within what the
rules allow, and it accepts or rejects a standing offer at fixed rates whatever the
offer is worth. What a player learns about winning comes from self-play afterwards.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from moot.nodes.negotiation import NegotiationConfig, player_messages, referee_turn
from moot.nodes.negotiation_rules import GameState

from .examples import TrainingExample

_PROPOSE = ("Here is my offer.", "How about this?", "Let me counter.", "I can do this.", "This is fair.")
_ACCEPT = ("Deal.", "That works for me.", "I accept.")
_REJECT = ("No, that does not work for me.", "I cannot agree to that.")


@dataclass(frozen=True)
class WarmStartConfig:
    """How many scripted games to play, and how the script answers a standing offer.

    Attributes:
        games: Scripted games; every turn of every game becomes an example for its seat.
        accept_probability: Chance of accepting a standing offer, whatever it is worth.
        reject_probability: Chance of rejecting one outright (otherwise: a counter-offer).
        seed: For the script's choices.
        epochs, learning_rate: Its LoRA training; the format is easy to learn but must be
            learnt well (14 steps at 2e-4 left 85-94 % of the embedded model's turns invalid).
    """

    games: int = 16
    accept_probability: float = 0.3
    reject_probability: float = 0.1
    seed: int = 0
    epochs: float = 2.0
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        if self.games < 0 or self.epochs <= 0 or self.learning_rate <= 0:
            raise ValueError(f"games must be >= 0 and epochs, learning_rate > 0; got {self.games}, "
                             f"{self.epochs}, {self.learning_rate}")
        if min(self.accept_probability, self.reject_probability) < 0.0 or self.accept_probability + self.reject_probability > 1.0:
            raise ValueError("accept_probability and reject_probability must be >= 0 and sum to at most 1")


def _random_proposal(game: GameState, seat: str, rng: random.Random) -> str:
    spec = game.spec
    if spec.name == "sell-buy":
        seller, buyer = spec.players
        values = (spec.values[seller]["X"], spec.values[buyer]["X"])
        low, high = max(0, min(values) - 20), min(game.holdings[buyer]["ZUP"], max(values) + 20)
        return f"ACTION: PROPOSE price={rng.randint(low, high)}"
    if spec.name == "ultimatum":
        pot = spec.holdings[spec.players[0]]["ZUP"]
        mine = rng.randint(0, 20) * pot // 20
        return f"ACTION: PROPOSE mine={mine} yours={pot - mine}"
    # One resource for the other, in random amounts: the shape of a trade, not a good one.
    given, wanted = rng.sample(sorted(game.holdings[seat]), 2)
    give = rng.randint(1, max(1, min(game.holdings[seat][given], 10)))
    get = rng.randint(1, max(1, min(game.holdings[spec.other(seat)][wanted], 10)))
    amounts = {given: (give, 0), wanted: (0, get)}
    return ("ACTION: PROPOSE give " + " ".join(f"{r}={amounts[r][0]}" for r in sorted(amounts))
            + " get " + " ".join(f"{r}={amounts[r][1]}" for r in sorted(amounts)))


def scripted_move(game: GameState, seat: str, config: WarmStartConfig, rng: random.Random) -> str:
    """The script's message for ``seat``: a short sentence and a valid action line.

    Examples:
        >>> from moot.nodes.negotiation_rules import game_spec
        >>> scripted_move(GameState.start(game_spec("sell-buy")), "seller", WarmStartConfig(), random.Random(0))
        'I can do this. ACTION: PROPOSE price=68'
    """
    offer = game.offer
    if offer is not None and offer.proposer != seat:
        draw = rng.random()
        if draw < config.accept_probability:
            return f"{rng.choice(_ACCEPT)} ACTION: ACCEPT"
        if draw < config.accept_probability + config.reject_probability:
            return f"{rng.choice(_REJECT)} ACTION: REJECT"
    return f"{rng.choice(_PROPOSE)} {_random_proposal(game, seat, rng)}"


def warm_start_examples(negotiation: NegotiationConfig, config: WarmStartConfig = WarmStartConfig()) -> list[TrainingExample]:
    """Play scripted games under the real referee; every turn becomes an example for its seat.

    An example is the prompt the graph would have shown that player at that turn, and
    the script's move as the completion.

    Examples:
        >>> from moot.nodes.negotiation_rules import game_spec
        >>> examples = warm_start_examples(NegotiationConfig(game_spec("ultimatum")), WarmStartConfig(games=2))
        >>> examples[0].role, examples[0].completion.split("ACTION:")[1].split()[0]
        ('player-1', 'PROPOSE')
    """
    rng = random.Random(config.seed)
    examples = []
    for number in range(config.games):
        game, turns = GameState.start(negotiation.game), []
        while not game.over:
            seat = game.to_move
            prompt = player_messages(negotiation, game, seat, turns)
            move = scripted_move(game, seat, config, rng)
            examples.append(TrainingExample(f"warm-start/{negotiation.game.name}/game-{number}/turn-{game.turn}",
                                            negotiation.role(seat), prompt, move))
            turns.append(referee_turn(game, seat, negotiation.role(seat), move))
    return examples
