"""Caps and wording of SiriuS augmentation (:mod:`moot.protocols.augmentation`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentationConfig:
    """Caps and wording of the repair.

    Attributes:
        roles_per_trajectory: Roles tried per failed trajectory, first step first.
        max_trajectories: Failed trajectories repaired per iteration (0: off, no repair; ``None``: all).
        concurrency: Trajectories repaired at once.
    """

    roles_per_trajectory: int = 1
    max_trajectories: int | None = None
    concurrency: int = 32
    temperature: float = 0.3
    max_tokens: int = 48
    feedback_prompt: str = (
        "Problem: {question}\nThe correct final answer is {target}.\n"
        "Below is the work of the {role}. Judge only the {role}'s reasoning and say in one or two "
        "sentences what it should do differently. Do not state the final answer.\n\n{role}: {text}"
    )
    regenerate_prompt: str = "Feedback on your work: {feedback}\nRedo your part of the task."
    rephrase_prompt: str = (
        "Rewrite the text below so that it reads as a direct, confident solution. Do not mention "
        "mistakes, feedback or earlier attempts. Keep every number of the final result.\n\n{text}"
    )
