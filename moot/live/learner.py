"""The live learner: an app improves itself from its own traffic while it serves.

Put the pool's models in any chain or graph, pass :meth:`Learner.config` at invoke time,
and the learner does the rest in the background::

    pool = LocalModelPool()
    app = prompt | pool.model("support") | StrOutputParser()     # the app, unchanged
    with Learner(pool, "runs/support", every=32) as learner:
        reply = app.invoke(x, learner.config(episode="chat-17"))
        learner.feedback("chat-17", reward=1.0)                 # later: a thumbs-up, a grader...

What happens, all of it recorded in the run folder (``learner.json``) so that a restarted
app resumes where it stopped:

1. every model call is logged with its role, node, episode and LangChain run ids; a
   reward arrives from a reward function of the final output, from :meth:`Learner.feedback`
   (a correction becomes a training target), or from a judge model;
2. once a role has ``every`` new kept examples (or ``every_minutes`` passed), the distiller
   (:mod:`moot.training.distiller`) trains the role's next adapter in a separate process from
   its current one, on the new examples plus a replay share of older ones;
3. the candidate is loaded under a new version name but not served, and both versions
   answer a gate set side by side (:mod:`moot.promotion.gate`); it is promoted only if it is not
   measurably worse, else unloaded with the reason;
4. after a promotion, if the live reward of the new version falls below the previous
   version's over a window, it is rolled back on its own (:mod:`moot.promotion.lineage`).
   :meth:`Learner.serve` rolls forward (or back) to any version by name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import zlib
from collections import OrderedDict, defaultdict, deque
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from moot.evaluation.report import mean_stderr
from moot.live.learner_config import LearnerConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.promotion.gate import Gate, GateResult, TaskGate, TrafficGate, gate_decision
from moot.promotion.lineage import LearnerState, Lineage, Version
from moot.stores import Annotator, ExperienceLibrary, ExperienceLogger, ExperienceRecord, Feedback
from moot.stores.experience_callback import ROOT
from moot.training import TrainingExample
from moot.training.distiller import Distiller
from moot.training.jobs import TrainingCancelled
from moot.training.rewarded import RewardFilter, episode_rewards, rewarded_training_sets

logger = logging.getLogger(__name__)

RewardFunction = Callable[[Any, dict[str, Any]], "float | None"]
"""``reward(final_output, record_metadata) -> reward`` (``None``: no reward yet)."""
HELD_OUT_SPLITS = ("validation", "test")
Curate = Callable[[list[ExperienceRecord], list[Feedback]], dict[str, list[TrainingExample]]]


def _reward_outcome(reward: float | None) -> dict[str, float]:
    """The outcome a reward function gives a record (nothing while it has no reward yet)."""
    return {} if reward is None else {"reward": reward}


def _oversubscribed(train_threads: int) -> bool:
    """Whether serving's threads and training's together outnumber the cores: only then does
    training take cores that serving would use, and so yield to traffic."""
    import torch

    return torch.get_num_threads() + train_threads > (os.cpu_count() or 1)


def _held_out(episode: str, share: float) -> bool:
    """Whether an episode belongs to the gate's held-out slice (stable across restarts)."""
    return share > 0 and zlib.crc32(episode.encode()) % 1000 < share * 1000


class Learner:
    """Logs an app's calls, distils kept ones into each role's adapter, gates, swaps and rolls back.

    Args:
        pool: The pool whose models the app runs (local or vLLM).
        run_dir: Where the library, the adapters and ``learner.json`` live.
        every: Shorthand for ``config.every``.
        config: Triggers, replay, gate and rollback settings.
        reward: A reward function of the final output (ground truth, a referee, a test).
        annotators: Outcome annotators by graph name (a protocol's ``annotators``); their
            ``reward``/``final_correct`` fields count as rewards.
        curate: Per-role training sets from records and feedback; default: the rule in
            :mod:`moot.training.rewarded`. A protocol's rule refines it.
        gate: The gate set; default: a held-out slice of rewarded traffic (local pool).
        judge: A chat model asked whether each unrewarded episode's reply was right.
        base_model_dir: The pool's base model folder (default: the embedded model).
        library: The experience library (default: ``run_dir/library``).
        run_id: The run id its records carry, for a new learner (default: a fresh one; a
            restarted learner keeps the one in its state).
    """

    def __init__(self, pool: ModelPool, run_dir: str | Path, every: int | None = None, *,
                 config: LearnerConfig | None = None, reward: RewardFunction | None = None,
                 annotators: dict[str, Annotator] | None = None, curate: Curate | None = None,
                 gate: Gate | None = None, judge: BaseChatModel | None = None,
                 base_model_dir: str | Path | None = None, library: ExperienceLibrary | None = None,
                 run_id: str | None = None) -> None:
        self.settings = config or LearnerConfig()
        if every is not None:  # a copy: the caller's config is not changed under it
            self.settings = dataclasses.replace(self.settings, every=every)
        self.pool = pool
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._stop = threading.Event()  # stop now: a training in progress is abandoned
        self._finish = threading.Event()  # stop after the current step
        self._thread: threading.Thread | None = None
        self._episode_versions: OrderedDict[str, list[tuple[str, str | None]]] = OrderedDict()
        self._rewards: dict[tuple[str, str | None], deque[float]] = defaultdict(lambda: deque(maxlen=1000))
        self._to_judge: deque[list[ExperienceRecord]] = deque(maxlen=1000)
        self.lineage = Lineage(pool, self.run_dir / "learner.json", self._live_rewards,
                               rollback_window=self.settings.rollback_window, rollback_z=self.settings.rollback_z,
                               run_id=run_id)
        engine = getattr(pool.backend, "engine", None)  # an in-process engine serves on this machine's cores
        busy = (lambda: engine.in_flight > 0) \
            if hasattr(engine, "in_flight") and _oversubscribed(self.settings.train_threads) else None
        self.distiller = Distiller(self.settings, self.run_dir / "adapters", base_model_dir, cancel=self._stop, busy=busy)
        self.library = library or ExperienceLibrary(self.run_dir / "library")
        self.gate = gate
        self.judge = judge
        self._curate = curate or (lambda records, feedback: rewarded_training_sets(
            records, feedback, RewardFilter(self.settings.min_reward)))
        annotators = dict(annotators or {})
        if reward is not None:
            annotators[ROOT] = lambda output, record: _reward_outcome(reward(output, record))
        self.logger = ExperienceLogger(self.library, annotators, flush_every_s=2.0, on_episode=self._on_episode)
        self.activity = "idle"
        self.served = 0
        self.lineage.resume()

    @property
    def state(self) -> LearnerState:
        """The saved state: versions, what each role serves, cursors, events (``learner.json``)."""
        return self.lineage.state

    def _live_rewards(self, role: str, version: str | None) -> list[float]:
        with self._lock:
            return list(self._rewards[(role, version)])

    # -- the app's side ----------------------------------------------------------------------

    def config(self, episode: str | None = None, **metadata: Any) -> RunnableConfig:
        """The invoke config that logs a call under this learner (``episode``: e.g. a chat session id).

        With no ``episode``, the call's LangChain root run id is its episode.
        """
        context = {"run": self.state.run_id, **metadata}
        if episode is not None:
            context["episode"] = episode
        return {"callbacks": [self.logger], "metadata": context}

    def feedback(self, episode: str, reward: float, correction: str | None = None, source: str = "user") -> None:
        """Reward an episode after the fact; a ``correction`` becomes the training target of its last call.

        Earlier feedback is kept (the latest counts). Episodes still buffered are written first.
        """
        self.logger.flush()
        self.library.add_feedback(Feedback(episode, float(reward), correction, source, run=self.state.run_id))
        # The episode's records carry its latest reward too, so a metadata filter (few-shot
        # memory, a retriever) finds the rewarded ones; the history stays in the feedback rows.
        records = self.library.find(run=self.state.run_id, episode=episode)
        for record in records:
            record.metadata["episode_reward"] = float(reward)
        self.library.add(records)
        with self._lock:
            for role_version in self._episode_versions.get(episode, []):
                self._rewards[role_version].append(float(reward))

    def _on_episode(self, records: list[ExperienceRecord]) -> None:
        # An episode that straddles a swap counts for every version that answered in it.
        versions = list({(str(r["role"]), str(r["adapter"]) if r["adapter"] in self.state.versions else None)
                         for r in records if r["role"] is not None})
        episode = str(records[0]["episode"])
        rewards = episode_rewards(records)
        with self._lock:
            self.served += 1
            self._episode_versions[episode] = versions
            while len(self._episode_versions) > 10_000:
                self._episode_versions.popitem(last=False)
            if episode in rewards:
                for role_version in versions:
                    self._rewards[role_version].append(rewards[episode])
            elif self.judge is not None:
                self._to_judge.append(records)

    # -- the background distiller ------------------------------------------------------------

    def start(self) -> "Learner":
        """Start the background distiller (also done on entering ``with``)."""
        if self._thread is None:
            self._stop.clear()
            self._finish.clear()
            self._thread = threading.Thread(target=self._loop, name="moot-learner", daemon=True)
            self._thread.start()
        return self

    def stop(self, finish_current: bool = False) -> None:
        """Stop the distiller, write what is buffered, save the state.

        Args:
            finish_current: Let a distillation in progress finish (and be gated) first;
                by default it is abandoned.
        """
        (self._finish if finish_current else self._stop).set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.logger.flush()
        self.lineage.save()

    def __enter__(self) -> "Learner":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, *exc: Any) -> None:
        self.stop(finish_current=self.settings.finish_on_exit and kind is None)

    def _loop(self) -> None:
        while not (self._stop.wait(self.settings.poll_s) or self._finish.is_set()):
            try:
                self.step()
            except TrainingCancelled:
                return  # stop() was called mid-training: exit now rather than finish it
            except Exception:  # noqa: BLE001 - serving goes on; the next poll tries again
                logger.exception("live learner step failed")
                self.activity = "idle (last step failed; see the log)"

    def step(self) -> list[Version]:
        """One pass: judge, watch for rollbacks, distil the roles that are due.

        Returns:
            The versions trained in this pass (promoted or refused).
        """
        self.logger.flush()
        self._judge_pending()
        self.lineage.check_rollbacks()
        # Held-out splits (a live run scores its versions on them) are never trained on.
        records = [r for r in self.library.find(run=self.state.run_id) if r["split"] not in HELD_OUT_SPLITS]
        feedback = self.library.feedback(run=self.state.run_id)
        share = self.settings.gate_share if self.gate is None else 0.0
        sets = self._curate([r for r in records if not _held_out(str(r["episode"]), share)], feedback)
        times = {r.id: float(r["time"] or 0.0) for r in records}
        held = [r for r in records if _held_out(str(r["episode"]), share)]
        return [self.distill(due.role, due.new, due.old, gate_records=(held, feedback), cursor=due.cursor)
                for due in self.distiller.due(sets, times, self.state.cursors, self.state.last_distill)]

    def distill(self, role: str, new: list[TrainingExample], old: list[TrainingExample] = (), *,  # type: ignore[assignment]
                gate_records: tuple[list[ExperienceRecord], list[Feedback]] | None = None,
                cursor: float | None = None) -> Version:
        """Train the role's next version on ``new`` plus a replay share of ``old``, gate it, and promote or refuse it.

        The background distiller calls this; call it yourself to distil a set of your own.
        """
        new, replay = self.distiller.training_set(new, old, salt=len(self.state.versions))
        self.state.last_distill = time.time()
        current = self.pool.registry.current(role)
        parent_dir = self.state.versions[current].adapter_dir if current in self.state.versions else None
        number = sum(1 for v in self.state.versions.values() if v.role == role) + 1

        def on_step(step: int, total: int, loss: float | None) -> None:
            self.activity = f"training {role} (step {step}/{total})"

        self.activity = f"training {role} on {len(new)} new + {len(replay)} replayed examples"
        self.lineage.event("distilling", role, None, f"{len(new)} new + {len(replay)} replayed examples")
        candidates = self.settings.candidates
        rates = [candidates.learning_rate(self.settings.lora.learning_rate, i) for i in range(candidates.count)]
        try:
            outputs = self.distiller.train(role, [*new, *replay], number, parent_dir=parent_dir,
                                           learning_rates=rates, on_step=on_step)
            self.activity = f"gating {role}"
            names = [self.pool.load(role, folder) for folder in outputs]
            name, search, output = names[0], None, outputs[0]
            if len(names) > 1:
                name, search = self._best_candidate(role, names, gate_records)
                output = outputs[names.index(name)]
                for loser in names:
                    if loser != name:
                        self.pool.unload(loser)
            version = Version(name, role, str(output), current, "candidate", {"new": len(new), "replay": len(replay)},
                              time.time(), search=search)
            self.lineage.add(version)
            result = self._gate(role, current, name, gate_records)
            version.gate = asdict(result)
            if result.promote:
                self.lineage.promote(version)
            else:
                self.lineage.refuse(version, result.reason)
            if cursor is not None:
                self.state.cursors[role] = cursor
            self.lineage.save()
            return version
        except TrainingCancelled:
            self.lineage.event("cancelled", role, None, "the learner stopped")
            raise
        except BaseException as error:
            self.lineage.event("failed", role, None, f"{type(error).__name__}: {error}"[:300])
            raise
        finally:
            self.activity = "idle"

    def _gate_for(self, role: str, gate_records: tuple[list[ExperienceRecord], list[Feedback]] | None) -> Gate:
        if self.gate is not None:
            return self.gate
        held, feedback = gate_records or ([], [])
        return TrafficGate(held, feedback, self.settings.min_reward, role)

    def _gate(self, role: str, current: str | None, candidate: str,
              gate_records: tuple[list[ExperienceRecord], list[Feedback]] | None) -> GateResult:
        current_scores, candidate_scores = self._gate_for(role, gate_records).score(
            [self.pool.pinned({role: current}), self.pool.pinned({role: candidate})])
        return gate_decision(current_scores, candidate_scores, self.settings.gate)

    def _best_candidate(self, role: str, names: list[str],
                        gate_records: tuple[list[ExperienceRecord], list[Feedback]] | None) -> tuple[str, dict[str, Any]]:
        """The best of a distillation's candidates on the gate's items.

        A task gate's problems are played episode by episode, so they are allocated by the
        search of :mod:`moot.selection.candidates`; a traffic gate's likelihoods cost no episodes,
        so every candidate is scored on every item and the best mean wins.
        """
        gate = self._gate_for(role, gate_records)
        if isinstance(gate, TaskGate):
            found = gate.select({name: self.pool.pinned({role: name}) for name in names}, self.settings.candidates)
            return str(found.best), {"episodes": found.played, "separated": found.search.separated,
                                     "means": found.search.means}
        scores = gate.score([self.pool.pinned({role: name}) for name in names])
        means = {name: sum(s) / max(1, len(s)) for name, s in zip(names, scores)}
        return max(names, key=means.get), {"episodes": 0, "separated": None, "means": means}

    def serve(self, role: str, version: str | None) -> None:
        """Serve ``version`` (by name; ``None``: the base model) for ``role`` now: roll forward or back by hand."""
        self.lineage.serve(role, version)

    # -- rewards from a judge ----------------------------------------------------------------

    def _judge_pending(self) -> None:
        while self._to_judge and not self._stop.is_set():
            records = self._to_judge.popleft()
            last = max(records, key=lambda r: float(r["time"] or 0.0))
            question = next((m["content"] for m in reversed(last.messages) if m.get("role") == "user"), "")
            verdict = self.judge.invoke(  # type: ignore[union-attr]
                f"Question: {question}\nAnswer: {last.text}\nIs the answer correct? Reply yes or no.").content
            self.feedback(str(last["episode"]), 1.0 if str(verdict).strip().lower().startswith("yes") else 0.0,
                          source="judge")

    def status(self) -> dict[str, Any]:
        """What the live view shows: requests served, rolling reward, versions, the distiller's state."""
        with self._lock:
            rolling = {role: mean_stderr(list(self._rewards[(role, v)])[-50:])[0]
                       for role, v in self.state.serving.items()}
        counts = defaultdict(int)
        for event in self.state.events:
            counts[event["event"]] += 1
        return {"served": self.served, "activity": self.activity, "serving": dict(self.state.serving),
                "rolling_reward": rolling, "promoted": counts["promoted"], "refused": counts["refused"],
                "rolled_back": counts["rolled_back"]}
