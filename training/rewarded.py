"""The curation rule for any role of any graph: its calls in episodes whose reward passes, and corrections.

A plain LCEL app, a user's LangGraph graph or a built-in protocol: a record's role comes
from the pool model that made it and its episode from the invoke config (or its root run),
so one rule needs no knowledge of the graph:

* an episode's reward is its latest feedback (a user, a judge, a referee) when it has any,
  else its final outcome (``final_correct``), else the mean of its calls' rewards;
* the calls of role R in episodes whose reward reaches ``min_reward`` are R's examples;
* a correction replaces the reply of the episode's last call as its target, whatever the
  episode's reward.

The protocol rules (debate's generator/critic split, SiriuS repair) refine this for their
own graphs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from .examples import TrainingExample, example_of
from .preferences import JudgedExample, judged, same_prompt

if TYPE_CHECKING:
    from moot.stores import ExperienceRecord, Feedback


@dataclass(frozen=True)
class RewardFilter:
    """Which episodes' calls are learned from.

    Attributes:
        min_reward: An episode passes when its reward is at least this.
    """

    min_reward: float = 1.0


def episode_rewards(records: Iterable[ExperienceRecord], feedback: Iterable[Feedback] = ()) -> dict[str, float]:
    """Each episode's reward: its latest feedback, else its final outcome, else the mean of its calls' rewards.

    Episodes with none of these are left out.

    Examples:
        >>> from moot.stores import ExperienceRecord, Feedback
        >>> r = ExperienceRecord("a", "7", [], {"episode": "e1", "reward": 1.0})
        >>> episode_rewards([r]), episode_rewards([r], [Feedback("e1", 0.0)])
        ({'e1': 1.0}, {'e1': 0.0})
    """
    calls: dict[str, list[float]] = defaultdict(list)
    final: dict[str, float] = {}
    for record in records:
        episode = str(record["episode"])
        if record["final_correct"] is not None:
            final[episode] = float(bool(record["final_correct"]))
        if record["reward"] is not None:
            calls[episode].append(float(record["reward"]))  # type: ignore[arg-type]
    rewards = {episode: sum(values) / len(values) for episode, values in calls.items()}
    rewards.update(final)
    for row in sorted(feedback, key=lambda f: f.time):  # the latest feedback counts
        rewards[row.episode] = row.reward
    return rewards


def rewarded_training_sets(records: Iterable[ExperienceRecord], feedback: Iterable[Feedback] = (),
                           keep: RewardFilter = RewardFilter()) -> dict[str, list[TrainingExample]]:
    """Per-role training sets by the rule in the module docstring.

    Examples:
        >>> from moot.stores import ExperienceRecord, Feedback
        >>> good = ExperienceRecord("a", "Paris", [{"role": "user", "content": "Capital of France?"}],
        ...                         {"episode": "e1", "role": "support", "time": 1.0})
        >>> bad = ExperienceRecord("b", "Rome", [{"role": "user", "content": "Capital of Spain?"}],
        ...                        {"episode": "e2", "role": "support", "time": 2.0})
        >>> sets = rewarded_training_sets([good, bad], [Feedback("e1", 1.0), Feedback("e2", 0.0, correction="Madrid")])
        >>> [e.completion for e in sets["support"]]
        ['Paris', 'Madrid']
    """
    sets: dict[str, list[TrainingExample]] = defaultdict(list)
    for calls, passed, correction in _episodes(records, feedback, keep):
        for index, record in enumerate(calls):
            example = example_of(record)
            if index == len(calls) - 1 and correction is not None:
                sets[example.role].append(TrainingExample(record.id, example.role, example.prompt, correction))
            elif passed:
                sets[example.role].append(example)
    return dict(sets)


def rewarded_judged_calls(records: Iterable[ExperienceRecord], feedback: Iterable[Feedback] = (),
                          keep: RewardFilter = RewardFilter()) -> list[JudgedExample]:
    """Each call good when its episode's reward passes, grouped by the prompt it saw; a correction is a good reply
    to the corrected call's prompt (and the call it corrects a bad one).

    Examples:
        >>> from moot.stores import ExperienceRecord, Feedback
        >>> call = ExperienceRecord("a", "Rome", [{"role": "user", "content": "Capital of Spain?"}],
        ...                         {"episode": "e1", "role": "support", "time": 1.0})
        >>> [(c.completion, c.good) for c in rewarded_judged_calls([call], [Feedback("e1", 0.0, correction="Madrid")])]
        [('Rome', False), ('Madrid', True)]
    """
    judged_calls = []
    for calls, passed, correction in _episodes(records, feedback, keep):
        for index, record in enumerate(calls):
            corrected = index == len(calls) - 1 and correction is not None
            judged_calls.append(judged(record, passed and not corrected, same_prompt(record)))
            if corrected:
                judged_calls.append(JudgedExample(record.id, str(record["role"]), record.messages, correction, True,
                                                  same_prompt(record)))
    return judged_calls


def _episodes(records: Iterable[ExperienceRecord], feedback: Iterable[Feedback],
              keep: RewardFilter) -> Iterator[tuple[list[ExperienceRecord], bool, str | None]]:
    """Each episode's learnable calls in time order, whether its reward passes ``keep``, and its latest correction."""
    feedback = list(feedback)
    records = [r for r in records if r["role"] is not None and r["error"] is None]
    rewards = episode_rewards(records, feedback)
    corrections = {row.episode: row.correction for row in sorted(feedback, key=lambda f: f.time) if row.correction}
    episodes: dict[str, list[ExperienceRecord]] = defaultdict(list)
    for record in records:
        episodes[str(record["episode"])].append(record)
    for episode, calls in episodes.items():
        calls.sort(key=lambda r: (float(r["time"] or 0.0), r.id))
        yield calls, rewards.get(episode, float("-inf")) >= keep.min_reward, corrections.get(episode)
