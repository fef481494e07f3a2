"""What training learns from: an example traced to its record, and the curation settings.

Each protocol's curation rule lives in the module of its name (``training/debate.py``,
``training/chain.py``, ``training/critique.py``, ``training/negotiation.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from moot.stores import ExperienceRecord

Target = Literal["ground_truth", "consensus"]
NegotiationFilter = Literal["won", "deal", "utility"]
"""Which of a negotiator's games it learns from: those it won, those that ended in a deal, or by utility."""


@dataclass(frozen=True)
class TrainingExample:
    """A prompt (chat messages) and the completion to learn, traced to its record."""

    record_id: str
    role: str
    prompt: list[dict[str, str]]
    completion: str

    @property
    def record_ids(self) -> list[str]:
        return [self.record_id]


@dataclass(frozen=True)
class CurationConfig:
    """Which logged outputs become training data.

    Attributes:
        target: What counts as right: the task's ground truth, or the debate's majority.
        right_to_right_fraction: Share of right -> right revisions kept (wrong -> right are
            always kept).
        seed: For the sampling above.
        keep: Negotiation: which of a player's games it learns from (``won``, ``deal``, or
            ``utility`` at least ``utility_threshold``).
        utility_threshold: Negotiation: for ``keep="utility"``.
        answer: How a reply is read against the task's reference answer, for the rewards GRPO
            gives replies it samples (the task's answer type; a task run sets it from its own).
    """

    target: Target = "ground_truth"
    right_to_right_fraction: float = 1.0
    seed: int = 0
    keep: NegotiationFilter = "won"
    utility_threshold: float = 0.0
    answer: str = "number"

    def __post_init__(self) -> None:
        if not 0.0 <= self.right_to_right_fraction <= 1.0:
            raise ValueError(f"right_to_right_fraction must be in [0, 1], got {self.right_to_right_fraction}")


def example_of(record: ExperienceRecord) -> TrainingExample:
    """The training example a logged call makes: its prompt, and its reply as the completion."""
    return TrainingExample(record.id, str(record["role"]), record.messages, record.text)
