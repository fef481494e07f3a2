"""Settings of a negotiation self-play run (:mod:`moot.loops.selfplay`), saved as its run folder's ``config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from moot.runs.config import RunConfig
from moot.training.lora_training import LoraTrainingConfig
from moot.training.examples import CurationConfig
from moot.training.negotiation_warm_start import WarmStartConfig

GameVariant = Literal["default", "sirius-generalization"]
League = Literal["latest", "ucb"]


@dataclass
class SelfPlayConfig(RunConfig):
    """Settings of a self-play run, beside those of :class:`~moot.runs.config.RunConfig`.

    Attributes:
        game: ``resource-exchange``, ``sell-buy`` or ``ultimatum``.
        variant: ``default`` or ``sirius-generalization`` numbers.
        games: Self-play games per iteration (the training data).
        eval_games: Games per evaluation pairing (base vs base; trained vs frozen base, per seat).
        curation: Which of a player's games it learns from (``keep``: ``won``, ``deal`` or
            ``utility`` at least ``utility_threshold``).
        iterations: Play-train-swap rounds.
        temperature: The players' sampling temperature.
        max_tokens: Longest turn.
        max_turns: Override the game's turn limit (``None``: the game's own, 8 or 10).
        constrain_actions: Decode every turn under the game's action grammar (llguidance
            on the local engine, the server's structured outputs on vLLM), the alternative to a
            warm start for teaching the format.
        league: Whom a seat plays while it learns: latest (the other seat's latest version,
            every game) or ucb (in each game one seat learns, against a version of the other
            seat drawn from all it has produced, base included, by UCB on how often that
            version beats it: the hardest opponents get most games, and a version rarely
            played gets its chance).
        league_c: UCB's exploration constant.
        league_block: Games picked and played together before the league's estimates are updated.
        robustness_games: After the last iteration, games of each final seat against every
            version of the other seat (its league), for a win-rate matrix (0: skip).
        warm_start: The scripted games the base learns the action format from
            (``games=0``: no warm start; the base is the bare model).
    """

    game: str = "sell-buy"
    variant: GameVariant = "default"
    max_turns: int | None = None
    games: int = 48
    eval_games: int = 32
    iterations: int = 1
    curation: CurationConfig = field(default_factory=CurationConfig)
    temperature: float = 0.7
    max_tokens: int = 40
    constrain_actions: bool = False
    league: League = "latest"
    league_c: float = 1.0
    league_block: int = 8
    robustness_games: int = 0
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    lora: LoraTrainingConfig = field(default_factory=lambda: LoraTrainingConfig(epochs=1.0))
    run_dir: Path = Path("runs/selfplay")

    def __post_init__(self) -> None:
        if "grpo" in self.lora.objectives:
            raise ValueError("grpo rewards each reply by a task's answer check, and a negotiation turn has none: "
                             "choose sft, dpo or kto")
