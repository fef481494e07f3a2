"""The record contract: every metadata field a graph writes and training reads, with its meaning, in one place.

Chroma stores flat scalar metadata, so a record's metadata is one flat mapping made of three
typed parts:

* :class:`EpisodeContext`: which run and episode a call belongs to (given at invoke time);
* :class:`CallSite`: where in the graph the call was made (added by LangGraph and the nodes);
* :class:`Outcome`: how the episode turned out for this call (added by the protocol's
  annotator when the episode ends).

A protocol's annotator returns an :class:`Outcome`; curation and augmentation read these
fields by these names and no others.
"""

from __future__ import annotations

from typing import TypedDict


class EpisodeContext(TypedDict, total=False):
    """Which run and episode a call belongs to.

    Attributes:
        run: The run id, unique per run (kept in the run folder's ``config.json``).
        iteration: Improve-loop iteration (0: the base model).
        split: ``train``, ``validation``, ``test`` (or ``eval`` for self-play pairings).
        setting: What was played, e.g. ``debate (iteration 1)`` or ``trained seller vs frozen base``.
        episode: ``<split>/<setting>/it<iteration>/<problem or game>``, unique within a run;
            an app's own id (a chat session's), or else the LangChain root run's id.
        problem_id: The task problem's id.
        question: The problem's question.
        target: The ground-truth answer, when the task has one.
        protocol: ``debate``, ``chain``, ``critique`` or ``negotiation``.
        task: The task's name (e.g. ``arithmetic-sum2``) or the game's.
    """

    run: str
    iteration: int
    split: str
    setting: str
    episode: str
    problem_id: str
    question: str
    target: str
    protocol: str
    task: str


class CallSite(TypedDict, total=False):
    """Where in the graph a call was made.

    Attributes:
        node: The LangGraph node that made the call.
        step: LangGraph's superstep counter.
        role: The pool role (and so the adapter) that answered.
        agent: The agent's index (a debate's agents, a game's seats; 0 where there is one).
        round: The call's position in its protocol's sequence: a debate round, a chain
            step, a critique attempt, a negotiation turn.
        seat: Negotiation: the seat the player holds.
        adapter: The adapter version that answered, or the base model's name.
        lc_run_id, lc_parent_run_id: The call's LangChain run id and its parent's (the
            chain or node that made it); the episode defaults to the root run's id.
        tags: The run's LangChain tags, comma-joined.
        time: When the call finished (Unix seconds): orders an episode's turns, and the
            live learner's cursor over what it has trained on.
    """

    node: str
    step: int
    role: str
    agent: int
    round: int
    seat: str
    adapter: str
    lc_run_id: str
    lc_parent_run_id: str
    tags: str
    time: float


class Outcome(TypedDict, total=False):
    """How the episode turned out, for this call.

    Attributes:
        answer: The answer parsed from this call's text.
        correct: Whether this call was right (its answer, verdict or feedback).
        consensus: Debate: whether this answer agreed with the majority.
        final_answer: The episode's final answer.
        final_correct: Whether the final answer matched the target.
        final_verdict, verdict, verdict_parsed: Critique: the judge's rulings.
        reward: A scalar reward for this call (1/0 for right/wrong; a game's utility).
        episode_reward: The episode's latest feedback reward (the live learner sets it; every
            feedback row is kept in the library's feedback collection).
        utility, won, deal, valid, action: Negotiation: the seat's result and this turn's move.
        error: Set when the episode failed; what it made before is kept, marked.
        augmented, source_episode, status: SiriuS repair: a repaired step, the episode it
            came from, and what the repair attempt achieved.
    """

    answer: str
    correct: bool
    consensus: bool
    final_answer: str
    final_correct: bool
    final_verdict: bool
    verdict: bool
    verdict_parsed: bool
    reward: float
    episode_reward: float
    utility: float
    won: bool
    deal: bool
    valid: bool
    action: str
    error: str
    augmented: bool
    source_episode: str
    status: str


class RecordMetadata(EpisodeContext, CallSite, Outcome, total=False):
    """A record's flat metadata: its episode context, call site and outcome."""


RECORD_FIELDS: frozenset[str] = frozenset(RecordMetadata.__annotations__)
"""Every field of the contract (a record may also carry a user's own context keys)."""
