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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

from rich.console import Console

from moot.nodes.chain_step import ChainConfig
from moot.nodes.critique_roles import CritiqueConfig
from moot.nodes.debate_agent import DebateConfig
from moot.nodes.embedded_model import embedded_model_dir
from moot.nodes.model_pool import ModelPool
from moot.protocols import DEBATE, Protocol, get_protocol
from moot.report import ImproveReport, Score
from moot.runner import BackendConfig, progress_bar, run_episodes, timed, train_roles, write_run_config
from moot.stores import ExperienceLibrary, ExperienceLogger
from moot.tasks import Problem, SplitSizes, Task, arithmetic_task, jsonl_task
from moot.training import CurationConfig, LoraTrainingConfig
from moot.training.augmentation import AugmentationConfig, augment_failures

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
    """

    protocol: str = "debate"
    task: str = "arithmetic"
    level: str = "sum2"
    sizes: SplitSizes = field(default_factory=lambda: SplitSizes(train=120, validation=100, test=100))
    eval_split: Literal["validation", "test"] = "test"
    iterations: int = 1
    seed: int = 0
    debate: DebateConfig = field(default_factory=lambda: DebateConfig(temperature=0.3, max_tokens=16))
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
    """One run of the loop; use :func:`improve` unless you need the pieces."""

    def __init__(self, config: ImproveConfig, pool: ModelPool | None = None, console: Console | None = None):
        self.config = config
        self.console = console or Console()
        self.protocol: Protocol = get_protocol(config.protocol)
        self.task = config.load_task()
        self.run_dir = Path(config.run_dir)
        settings = write_run_config(self.run_dir, config, config.backend, self.console)
        self.base_model_dir = Path(config.model_dir) if config.model_dir else embedded_model_dir()
        self.pool = pool or config.backend.make_pool(self.base_model_dir)
        self.library = ExperienceLibrary(config.library or self.run_dir / "library")
        self.protocol_config = config.protocol_config
        self.report = ImproveReport(str(self.run_dir), self.protocol.name, self.task.name, config.eval_split,
                                    config=settings)

    def play(self, problems: Sequence[Problem], protocol: Protocol, protocol_config: Any, *, split: str, iteration: int,
             label: str) -> list[dict | None]:
        """Run one episode per problem, logging every model call; failed episodes give None."""
        base = {"run": self.run_dir.name, "iteration": iteration, "task": self.task.name,
                "protocol": protocol.name, "split": split, "setting": label}
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
        records = self.library.find(run=self.run_dir.name, iteration=iteration, split="train")
        failed = self.protocol.failed_trajectories(records, self.protocol_config)
        cap = self.config.augmentation.max_trajectories
        with progress_bar(self.console) as progress, self._experience(self.protocol) as experience:
            bar = progress.add_task(f"repairing failed trajectories (iteration {iteration})", total=len(failed[:cap]))
            stats = augment_failures(
                failed, self.pool, self.protocol.rerun(self.pool, self.protocol_config), self.library, [experience],
                self.config.augmentation, on_trajectory=lambda: progress.advance(bar),
            )
        self.report.augmentation[f"it{iteration}"] = {"failed": len(failed), "per_role": stats.as_dict()}
        for role, row in stats.as_dict().items():
            self.console.print(f"augmentation {role}: {row['repaired']}/{row['attempted']} repaired (ratio {row['ratio']:.2f})")

    def train_and_swap(self, iteration: int) -> None:
        records = self.library.find(run=self.run_dir.name, iteration=iteration, split="train")
        sets = self.protocol.curate(records, self.config.curation)
        self.report.training.extend(train_roles(
            sets, self.protocol.roles(self.protocol_config), self.pool, self.base_model_dir,
            self.run_dir / "adapters" / f"it{iteration}", iteration, self.config.lora, self.console,
            self.config.max_examples_per_role,
        ))

    def _experience(self, protocol: Protocol) -> ExperienceLogger:
        # Each protocol annotates its own records (the single-agent baseline is a debate).
        return ExperienceLogger(self.library, annotate=protocol.annotate)

    def run(self) -> ImproveReport:
        timings = self.report.timings_s
        # The single agent is the base model answering alone, greedy: a debate of one.
        single = replace(self.config.debate, n_agents=1, n_rounds=1, temperature=0.0)
        name, cfg = self.protocol.name, self.protocol_config
        with timed(timings, "total"):
            with timed(timings, "baseline"):
                self.evaluate("single agent (base)", DEBATE, single, 0)
                self.evaluate(f"{name} (base)", self.protocol, cfg, 0)
            for iteration in range(1, self.config.iterations + 1):
                with timed(timings, f"play_it{iteration}"):
                    self.play(self.task.train, self.protocol, cfg, split="train", iteration=iteration, label=name)
                if self.config.augment and self.protocol.repairable:
                    with timed(timings, f"augment_it{iteration}"):
                        self.augment(iteration)
                with timed(timings, f"train_it{iteration}"):
                    self.train_and_swap(iteration)
                with timed(timings, f"eval_it{iteration}"):
                    self.evaluate(f"{name} (iteration {iteration})", self.protocol, cfg, iteration)
                    if self.protocol.single_agent_learns:
                        self.evaluate(f"single agent (iteration {iteration})", DEBATE, single, iteration)
        json_path, png_path = self.report.save()
        self.console.print(self.report.table())
        self.console.print(f"report: {json_path}  plot: {png_path}")
        return self.report


def improve(config: ImproveConfig = ImproveConfig(), pool: ModelPool | None = None, console: Console | None = None) -> ImproveReport:
    """Run the improve loop and return its report (also saved in the run folder)."""
    return ImproveRun(config, pool, console).run()
