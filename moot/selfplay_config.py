"""Settings of a negotiation self-play run (:mod:`moot.selfplay`), saved as its run folder's ``config.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from moot.run_config import RunConfig
from moot.training.lora_sft import LoraTrainingConfig
from moot.training.negotiation import NegotiationFilter
from moot.training.negotiation_warm_start import WarmStartConfig

GameVariant = Literal["default", "sirius-generalization"]


@dataclass
class SelfPlayConfig(RunConfig):
    """Settings of a self-play run, beside those of :class:`~moot.run_config.RunConfig`.

    Attributes:
        game: ``resource-exchange``, ``sell-buy`` or ``ultimatum``.
        variant: ``default`` or ``sirius-generalization`` numbers.
        games: Self-play games per iteration (the training data).
        eval_games: Games per evaluation pairing (base vs base; trained vs frozen base, per seat).
        keep: Which of a player's games it learns from: ``won``, ``deal`` or ``utility``.
        utility_threshold: For ``keep="utility"``.
        iterations: Play-train-swap rounds.
        temperature: The players' sampling temperature.
        max_tokens: Longest turn.
        max_turns: Override the game's turn limit (``None``: the game's own, 8 or 10).
        constrain_actions: Decode every turn under the game's action grammar (llguidance
            on the local engine, the server's structured outputs on vLLM), the alternative to a
            warm start for teaching the format.
        warm_start: The scripted games the base learns the action format from
            (``games=0``: no warm start; the base is the bare model).
    """

    game: str = "sell-buy"
    variant: GameVariant = "default"
    max_turns: int | None = None
    games: int = 48
    eval_games: int = 32
    iterations: int = 1
    keep: NegotiationFilter = "won"
    utility_threshold: float = 0.0
    temperature: float = 0.7
    max_tokens: int = 40
    constrain_actions: bool = False
    warm_start: WarmStartConfig = field(default_factory=WarmStartConfig)
    lora: LoraTrainingConfig = field(default_factory=lambda: LoraTrainingConfig(epochs=1.0))
    run_dir: Path = Path("runs/selfplay")
