"""The improve loop: play -> log -> curate -> train per role -> hot-swap -> evaluate.

One loop for every protocol; the protocol, the curation filter and the evaluation split
are parameters. Everything a run makes lives in its run folder::

    runs/<name>/config.json     the settings
    runs/<name>/library/        the experience library (unless a Chroma server is used)
    runs/<name>/adapters/it1/<role>/   adapter + moot_manifest.json
    runs/<name>/report.json, report.png
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from rich.console import Console

from moot.nodes.chain import ChainConfig
from moot.nodes.critique import CritiqueConfig
from moot.nodes.debate import DebateConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.protocols import DEBATE, Protocol, get_protocol
from moot.report import ImproveReport, Score
from moot.run_folder import RunMode, RunProgress
from moot.runner import BackendConfig, open_run, progress_bar, run_episodes, timed, train_roles
from moot.stores import ExperienceLogger
from moot.tasks import Problem, SplitSizes, Task, arithmetic_task, jsonl_task
from moot.training import CurationConfig, LoraTrainingConfig
from moot.augmentation import AugmentationConfig, augment_failures

logger = logging.getLogger(__name__)


@dataclass
class ImproveConfig:
    """Settings of one improve run (saved as the run folder's ``config.json``).

    Attributes:
        protocol: Which protocol to play: ``debate``, ``chain`` or ``critique``.
        task: ``arithmetic`` or a path to a JSONL file of ``question`` / ``answer``.
        level: Arithmetic difficulty (see :func:`moot.tasks.arithmetic_task`).
        sizes: Train / validation / test split sizes.
        eval_split: Split the report scores (``test`` is held out; tune on ``validation``).
        iterations: Play-train-swap rounds.
        debate, chain, critique: Settings of each protocol (only the played one is used).
        augment: Repair failed trajectories before training (SiriuS; chain and critique).
        run_dir: The run folder.
        library: Chroma location (a folder, or ``http://host:port``); default: in the run folder.
        model_dir: Base model folder; default: the embedded SmolLM2.
        max_examples_per_role: Cap on each role's training set (a CPU time budget).
        concurrency: Episodes in flight at once (their model calls batch together).
        flush_every_s: Finished episodes are written to the library at least this often, so
            a kill loses at most this much play (``--resume`` replays it).
    """

    protocol: str = "debate"
    task: str = "arithmetic"
    level: str = "sum2"
    sizes: SplitSizes = field(default_factory=SplitSizes)
    eval_split: Literal["validation", "test"] = "test"
    iterations: int = 1
    seed: int = 0
    debate: DebateConfig = field(default_factory=DebateConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    critique: CritiqueConfig = field(default_factory=CritiqueConfig)
    augment: bool = True
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    curation: CurationConfig = field(default_factory=CurationConfig)
    lora: LoraTrainingConfig = field(default_factory=LoraTrainingConfig)
    max_examples_per_role: int | None = 64
    run_dir: Path = Path("runs/latest")
    library: str | None = None
    model_dir: Path | None = None
    concurrency: int = 32
    flush_every_s: float = 10.0
    backend: BackendConfig = field(default_factory=BackendConfig)

    def load_task(self) -> Task:
        if self.task == "arithmetic":
            return arithmetic_task(self.level, self.sizes, seed=self.seed)
        return jsonl_task(self.task, self.sizes, seed=self.seed)

    @property
    def protocol_config(self) -> Any:
        """The settings of the protocol being played."""
        return {"debate": self.debate, "chain": self.chain, "critique": self.critique}[self.protocol]


class ImproveRun:
    """One run of the loop; use :func:`improve` unless you need the pieces.

    Args:
        mode: ``new`` refuses a run folder that holds another run; ``resume`` continues the
            run in it at its first unfinished phase (and, within a play phase, at its first
            unplayed episode); ``overwrite`` clears it first.
    """

    def __init__(self, config: ImproveConfig, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new"):
        self.config = config
        self.console = console or Console()
        self.protocol: Protocol = get_protocol(config.protocol)
        self.task = config.load_task()
        self.run_dir = Path(config.run_dir)
        opened = open_run(config, self.console, mode, pool)
        settings, self.run_id, self.library = opened.settings, opened.run_id, opened.library
        self.base_model_dir, self.pool = opened.base_model_dir, opened.pool
        self.progress = RunProgress(self.run_dir)
        self.protocol_config = config.protocol_config
        self.report = ImproveReport(str(self.run_dir), self.protocol.name, self.task.name, config.eval_split,
                                    config=settings)

    def play(self, problems: Sequence[Problem], protocol: Protocol, protocol_config: Any, *, split: str, iteration: int,
             label: str) -> list[dict | None]:
        """Run one episode per problem, logging every model call; failed episodes give None."""
        base = {"run": self.run_id, "iteration": iteration, "task": self.task.name,
                "protocol": protocol.name, "split": split, "setting": label}
        if split == "train":
            # Episodes this run already played to the end (on an earlier attempt) are not played
            # again: their records are in the library. Evaluations rerun whole, upserting.
            finished = {r["episode"] for r in self.library.find(run=self.run_id, iteration=iteration, split=split)
                        if r["error"] is None}
            problems = [p for p in problems if f"{split}/{label}/it{iteration}/{p.id}" not in finished]
        metadata = [{**base, "episode": f"{split}/{label}/it{iteration}/{p.id}", "problem_id": p.id,
                     "target": p.answer, "question": p.question} for p in problems]
        return run_episodes(protocol.build(self.pool, protocol_config), [{"question": p.question} for p in problems],
                            metadata, self._experience(protocol), self.console, f"{label} ({split}, iteration {iteration})",
                            self.config.concurrency)

    def evaluate(self, name: str, protocol: Protocol, protocol_config: Any, iteration: int) -> Score:
        problems = self.task.split(self.config.eval_split)
        states = self.play(problems, protocol, protocol_config, split=self.config.eval_split, iteration=iteration, label=name)
        outcomes = [s is not None and protocol.final_answer(s) == p.answer for s, p in zip(states, problems)]
        score = Score.of(name, outcomes, iteration)
        extra = protocol.extra_scores(self.config.eval_split, states, problems, iteration)
        self.report.scores.extend([score, *extra])
        for s in (score, *extra):
            self.console.print(f"{s.name}: {s.accuracy:.3f} ± {s.stderr:.3f} (n={s.n})")
        return score

    def augment(self, iteration: int) -> None:
        """Repair this iteration's failed training trajectories (SiriuS) and log the repairs."""
        records = self.library.find(run=self.run_id, iteration=iteration, split="train")
        failed = self.protocol.failed_trajectories(records, self.protocol_config)
        cap = self.config.augmentation.max_trajectories
        with progress_bar(self.console) as progress, self._experience(self.protocol) as experience:
            bar = progress.add_task(f"repairing failed trajectories (iteration {iteration})", total=len(failed[:cap]))
            stats = augment_failures(
                failed, self.pool, self.protocol.rerun(self.pool, self.protocol_config), self.library, [experience],
                self.config.augmentation, parser=self.protocol_config.parser, on_trajectory=lambda: progress.advance(bar),
            )
        self.report.augmentation[f"it{iteration}"] = {"failed": len(failed), "per_role": stats.as_dict()}
        for role, row in stats.as_dict().items():
            self.console.print(f"augmentation {role}: {row['repaired']}/{row['attempted']} repaired (ratio {row['ratio']:.2f})")

    def train_and_swap(self, iteration: int) -> None:
        records = self.library.find(run=self.run_id, iteration=iteration, split="train")
        sets = self.protocol.curate(records, self.config.curation)
        self.report.training.extend(train_roles(
            sets, self.protocol.roles(self.protocol_config), self.pool, self.base_model_dir,
            self.run_dir / "adapters" / f"it{iteration}", iteration, self.config.lora, self.console,
            self.config.max_examples_per_role,
        ))

    def _experience(self, protocol: Protocol) -> ExperienceLogger:
        # Each protocol annotates its own records (the single-agent baseline is a debate).
        return ExperienceLogger(self.library, annotate=protocol.annotate, flush_every_s=self.config.flush_every_s)

    def _snapshot(self) -> dict[str, Any]:
        report = asdict(self.report)
        return {key: report[key] for key in ("scores", "training", "augmentation", "timings_s")}

    def _restore(self, snapshot: dict[str, Any]) -> None:
        self.report.scores = [Score(**score) for score in snapshot["scores"]]
        self.report.training = snapshot["training"]
        self.report.augmentation = snapshot["augmentation"]
        self.report.timings_s.update(snapshot["timings_s"])

    def _phase(self, key: str, action: Callable[[], None]) -> None:
        """Run one phase, or, when an earlier attempt of this run finished it, take its results."""
        if self.progress.done(key):
            self._restore(self.progress.result(key))
            self.console.print(f"[dim]{key}: finished before this resume; not redone[/]")
            return
        with timed(self.report.timings_s, key):
            action()
        self.progress.finish(key, self._snapshot())

    def _republish(self, iteration: int) -> None:
        """Serve an iteration's adapters again in this process's fresh pool (on resume)."""
        for entry in self.report.training:
            if entry["iteration"] == iteration and entry.get("train_loss") is not None:
                entry["version"] = self.pool.publish(entry["role"], self.run_dir / "adapters" / f"it{iteration}" / entry["role"])

    def run(self) -> ImproveReport:
        # The single agent is the base model answering alone, greedy: a debate of one.
        single = replace(self.config.debate, n_agents=1, n_rounds=1, temperature=0.0)
        name, cfg = self.protocol.name, self.protocol_config

        def baseline() -> None:
            self.evaluate("single agent (base)", DEBATE, single, 0)
            self.evaluate(f"{name} (base)", self.protocol, cfg, 0)

        def evaluation(iteration: int) -> None:
            self.evaluate(f"{name} (iteration {iteration})", self.protocol, cfg, iteration)
            if self.protocol.single_agent_learns:
                self.evaluate(f"single agent (iteration {iteration})", DEBATE, single, iteration)

        self._phase("baseline", baseline)
        for iteration in range(1, self.config.iterations + 1):
            self._phase(f"play_it{iteration}", lambda: self.play(
                self.task.train, self.protocol, cfg, split="train", iteration=iteration, label=name))
            if self.config.augment and self.protocol.repairable:
                self._phase(f"augment_it{iteration}", lambda: self.augment(iteration))
            trained = self.progress.done(f"train_it{iteration}")
            self._phase(f"train_it{iteration}", lambda: self.train_and_swap(iteration))
            if trained:
                self._republish(iteration)
            self._phase(f"eval_it{iteration}", lambda: evaluation(iteration))
        self.report.timings_s["total"] = round(sum(v for k, v in self.report.timings_s.items() if k != "total"), 1)
        json_path, png_path = self.report.save()
        self.console.print(self.report.table())
        self.console.print(f"report: {json_path}  plot: {png_path}")
        return self.report


def improve(config: ImproveConfig = ImproveConfig(), pool: ModelPool | None = None, console: Console | None = None,
            mode: RunMode = "new") -> ImproveReport:
    """Run the improve loop and return its report (also saved in the run folder).

    ``mode``: ``new``, ``resume`` or ``overwrite`` (see :class:`ImproveRun`).
    """
    return ImproveRun(config, pool, console, mode).run()
