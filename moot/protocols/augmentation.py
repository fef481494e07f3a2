"""SiriuS library augmentation: repair failed trajectories and add them back.

For a trajectory whose final answer is wrong:

1. an external critic, which is shown the correct answer, gives feedback on one role's
   step (judging only that role's reasoning);
2. that role regenerates its step with the feedback;
3. the regenerated step is rephrased to read as solved directly, with no trace of the
   mistake or the feedback;
4. the downstream roles are re-run from the rephrased step; if the final answer is now
   right, the rephrased step and every re-run step enter the library marked
   ``augmented``, linked to the original episode.

Every attempt, repaired or not, leaves a ``repair`` record saying what happened, so the
augmentation ratio (repaired / attempted) can be reported per role.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from langchain_core.callbacks import BaseCallbackHandler

from moot.nodes.answers import AnswerParser, parse_number, safe_parse
from moot.nodes.serving.model_pool import ModelPool
from moot.stores import ExperienceLibrary, ExperienceRecord, record_id

from .augmentation_config import AugmentationConfig


@dataclass(frozen=True)
class Step:
    """One role's step of a logged trajectory: its prompt and its output."""

    role: str
    index: int
    messages: list[dict[str, str]]
    text: str


@dataclass(frozen=True)
class FailedTrajectory:
    """A logged episode whose final answer was wrong, with what is needed to repair it."""

    episode: str
    question: str
    target: str
    steps: list[Step]
    context: dict[str, Any] = field(default_factory=dict)


# rerun(question, steps before the repaired one, repaired step, callbacks, metadata) -> final answer
Rerun = Callable[[str, list[Step], Step, list[BaseCallbackHandler], dict[str, Any]], "str | None"]


@dataclass
class AugmentationStats:
    """Attempts and repairs per role; ``ratio(role)`` is SiriuS's augmentation ratio."""

    attempted: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

    def ratio(self, role: str) -> float:
        return self.repaired[role] / self.attempted[role] if self.attempted[role] else 0.0

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {role: {"attempted": self.attempted[role], "repaired": self.repaired[role], "ratio": round(self.ratio(role), 3)}
                for role in sorted(self.attempted)}


def _ask(pool: ModelPool, role: str, config: AugmentationConfig, messages: list[dict[str, str]]) -> str:
    model = pool.model(role, temperature=config.temperature, max_tokens=config.max_tokens)
    return str(model.invoke(messages).content)


def augment_failures(
    trajectories: Sequence[FailedTrajectory],
    pool: ModelPool,
    rerun: Rerun,
    library: ExperienceLibrary,
    callbacks: list[BaseCallbackHandler],
    config: AugmentationConfig = AugmentationConfig(),
    parser: AnswerParser = parse_number,
    on_trajectory: Callable[[], None] | None = None,
) -> AugmentationStats:
    """Try to repair each failed trajectory; returns attempts and repairs per role.

    The external critic and the rephraser run on the base model (roles
    ``external-critic`` and ``rephraser`` have no adapter); the regeneration runs as the
    repaired role, with its current adapter.
    """
    stats = AugmentationStats()
    lock = threading.Lock()

    def repair_one(trajectory: FailedTrajectory) -> None:
        for step in trajectory.steps[: config.roles_per_trajectory]:
            repaired = _repair(trajectory, step, pool, rerun, library, callbacks, config, parser)
            with lock:
                stats.attempted[step.role] += 1
                stats.repaired[step.role] += int(repaired)
            if repaired:
                break
        if on_trajectory is not None:
            on_trajectory()

    # Trajectories are repaired concurrently so a batching backend serves them together.
    with ThreadPoolExecutor(max_workers=config.concurrency) as executor:
        for future in [executor.submit(repair_one, t) for t in list(trajectories)[: config.max_trajectories]]:
            future.result()
    return stats


def _repair(
    trajectory: FailedTrajectory, step: Step, pool: ModelPool, rerun: Rerun, library: ExperienceLibrary,
    callbacks: list[BaseCallbackHandler], config: AugmentationConfig, parser: AnswerParser,
) -> bool:
    prompt = config.feedback_prompt.format(question=trajectory.question, target=trajectory.target, role=step.role, text=step.text)
    feedback = _ask(pool, "external-critic", config, [{"role": "user", "content": prompt}])
    regenerated = _ask(pool, step.role, config, [
        *step.messages,
        {"role": "assistant", "content": step.text},
        {"role": "user", "content": config.regenerate_prompt.format(feedback=feedback)},
    ])
    rephrased = _ask(pool, "rephraser", config, [{"role": "user", "content": config.rephrase_prompt.format(text=regenerated)}])
    episode = f"{trajectory.episode}/repair-{step.role}"
    context = {**trajectory.context, "episode": episode, "augmented": True, "source_episode": trajectory.episode}
    repaired_step = Step(step.role, step.index, step.messages, rephrased)
    before = [s for s in trajectory.steps if s.index < step.index]
    final = rerun(trajectory.question, before, repaired_step, callbacks, context)
    success = final is not None and final == trajectory.target
    records = [ExperienceRecord(
        record_id(context.get("run"), context.get("iteration"), episode, "repair", step.index, step.role),
        feedback,
        [{"role": "user", "content": prompt}],
        {**context, "node": "repair", "role": step.role, "round": step.index, "regenerated": regenerated,
         "rephrased": rephrased, "final_answer": final or "", "status": "repaired" if success else "still wrong"},
    )]
    if success:
        # The repaired step, as if the role had solved it directly: its original prompt, the rephrased text.
        records.append(ExperienceRecord(
            record_id(context.get("run"), context.get("iteration"), episode, step.role, step.index, 0),
            rephrased, step.messages,
            {**context, "node": step.role, "role": step.role, "round": step.index, "agent": 0,
             "answer": safe_parse(parser, rephrased) or "", "final_answer": final, "final_correct": True, "correct": True,
             "reward": 1.0},
        ))
    library.add(records)
    return success
