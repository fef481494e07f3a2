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
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console

from moot.promotion.gate import GateResult, TaskGate, gate_decision
from moot.nodes.few_shot_memory import RememberingPool
from moot.nodes.role_prompts import PromptedPool
from moot.selection.prompts import optimizer_model, propose_prompt, role_traces
from moot.nodes.serving.model_pool import ModelPool
from moot.protocols import DEBATE, RepairableProtocol
from moot.evaluation.report import SINGLE_AGENT, ImproveReport
from moot.runs.folder import RunMode
from moot.loops.improve_config import ImproveConfig
from moot.loops.task_run import TaskRun, task_protocol
from moot.runs.episodes import progress_bar, train_roles
from moot.training.preferences import TrainingData
from moot.protocols.augmentation import augment_failures

logger = logging.getLogger(__name__)


class ImproveRun(TaskRun[ImproveReport]):
    """One run of the improve loop (see :class:`~moot.loops.task_run.TaskRun` for what every task loop shares)."""

    config: ImproveConfig

    def __init__(self, config: ImproveConfig, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new"):
        if "grpo" in config.lora.objectives:
            task_protocol(config).task_prompts([], config.curation)  # a protocol GRPO cannot reward is refused before any play
        super().__init__(config, pool, console, mode)

    @property
    def serving_pool(self) -> ModelPool:
        """The pool the protocol plays on (with the current prompts and few-shot memory, if configured)."""
        return self.view(self.pool)

    def view(self, pool: ModelPool, prompts: dict[str, str] | None = None) -> ModelPool:
        """``pool`` under ``prompts`` (default: the current ones) and few-shot memory of this run's
        training episodes, if configured: how every version is played, served or gated."""
        prompts = self.prompts() if prompts is None else prompts
        pool = PromptedPool(pool, prompts) if prompts else pool
        if self.config.few_shot.k == 0:
            return pool
        return RememberingPool(pool, self.library, self.config.few_shot, {"run": self.run_id, "split": "train"})

    def prompts(self) -> dict[str, str]:
        """Each role's current system prompt: the last one the gate promoted (the lineage is the report's)."""
        return {entry["role"]: entry["text"] for entry in self.report.prompts if entry["promoted"]}

    def optimize_prompts(self, iteration: int) -> None:
        """Search each role's prompt: play a batch, let the optimizer propose, gate, keep or drop; ``rounds`` times."""
        settings, roles = self.config.prompts, self.protocol.roles(self.protocol_config)
        optimizer = optimizer_model(settings, self.pool)
        feedback = self.library.feedback(run=self.run_id)
        for round_ in range(settings.rounds):
            start = (round_ * settings.batch) % max(1, len(self.task.train))
            batch = (self.task.train * 2)[start:start + settings.batch]
            # their own split: the search's episodes never become LoRA training data
            self.play_problems(batch, self.protocol, self.protocol_config, split="prompt-search", iteration=iteration,
                               label=f"prompt search {round_}")
            records = self.library.find(run=self.run_id, iteration=iteration, split="prompt-search",
                                        setting=f"prompt search {round_}")
            for role in roles:
                current = self.prompts()
                proposal = propose_prompt(optimizer, role, current.get(role, ""), role_traces(records, role, feedback))
                entry = {"iteration": iteration, "round": round_, "role": role, "text": proposal,
                         "parent": current.get(role, ""), "version": f"{role}@p{len(self.report.prompts) + 1}"}
                if proposal is None:
                    self.report.prompts.append({**entry, "promoted": False, "reason": "no proposal in the reply"})
                    continue
                result = self.gate(entry["version"], self.view(self.pool, current),
                                   self.view(self.pool, {**current, role: proposal}))
                self.report.prompts.append({**entry, "promoted": result.promote, "gate": asdict(result)})
                verdict = "[green]kept[/]" if result.promote else "[red]dropped[/]"
                self.console.print(f"prompt {entry['version']} {verdict} ({result.current:.2f} -> {result.candidate:.2f} "
                                   f"on validation): {proposal!r}")

    def new_report(self, settings: dict[str, Any]) -> ImproveReport:
        return ImproveReport(str(self.run_dir), self.protocol.name, self.task.label, self.config.eval_split, config=settings)

    def augment(self, iteration: int) -> None:
        """Repair this iteration's failed training trajectories (SiriuS) and log the repairs."""
        records = self.library.find(run=self.run_id, iteration=iteration, split="train")
        failed = self.protocol.failed_trajectories(records, self.protocol_config)
        cap = self.config.augmentation.max_trajectories
        with progress_bar(self.console) as progress, self.logger(self.protocol.annotators) as experience:
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
        sets = self.protocol.training_sets(records, self.config.curation, self.config.lora)
        gated = self.config.gate_problems > 0
        roles = self.protocol.roles(self.protocol_config) or sorted(sets)  # a user graph's: those its calls named
        init = self.served_adapters() if self.config.continue_training else None
        if self.config.candidates.count > 1:
            entries = self.train_candidates(sets, roles, iteration, init, publish=not gated)
        else:
            entries = self.train(sets, roles, iteration, self.config.lora, publish=not gated, init_adapters=init)
        if gated:
            self.gate_and_publish(iteration, entries)

    def train_candidates(self, sets: dict[str, list[TrainingData]], roles: Sequence[str], iteration: int,
                         init: dict[str, Path] | None, *, publish: bool) -> list[dict[str, Any]]:
        """Train ``candidates.count`` adapter sets, find the best on validation episodes, keep it as the iteration's."""
        settings, folder = self.config.candidates, self.adapters_dir(iteration)
        trained: dict[str, list[dict[str, Any]]] = {}
        for index in range(settings.count):
            lora = replace(self.seeded(self.config.lora, iteration),
                           learning_rate=settings.learning_rate(self.config.lora.learning_rate, index))
            name = f"candidate-{index} (lr {lora.learning_rate:.2g})"
            self.console.print(f"training {name}")
            trained[name] = train_roles(sets, roles, self.pool, self.base_model_dir, folder / f"candidate-{index}",
                                        iteration, lora, self.console, self.config.max_examples_per_role, init,
                                        publish=False)
        loaded = {name: {e["role"]: self.pool.load(e["role"], folder / f"candidate-{i}" / e["role"])
                         for e in entries if e.get("train_loss") is not None}
                  for i, (name, entries) in enumerate(trained.items())}
        views = {name: self.view(self.pool.pinned(versions)) for name, versions in loaded.items()}
        with progress_bar(self.console) as progress:
            progress.add_task(f"searching {settings.count} candidates ({settings.allocation})", total=None)
            selection = TaskGate(self.protocol, self.protocol_config, self.task.validation,
                                 self.config.concurrency).select(views, settings)
        for versions in loaded.values():
            for version in versions.values():
                self.pool.unload(version)
        best = list(trained).index(selection.best)
        for entry in trained[selection.best]:
            if entry.get("train_loss") is not None:
                shutil.copytree(folder / f"candidate-{best}" / entry["role"], folder / entry["role"], dirs_exist_ok=True)
                if publish:
                    entry["version"] = self.pool.publish(entry["role"], folder / entry["role"])
        self.report.candidates[f"it{iteration}"] = {
            "best": selection.best, "allocation": settings.allocation, "episodes": selection.played,
            "separated": selection.search.separated, "plays": selection.search.plays, "means": selection.search.means}
        self.report.training.extend(trained[selection.best])
        self.console.print(f"candidates, iteration {iteration}: {selection.best} after {selection.played} validation "
                           f"episodes ({'separated' if selection.search.separated else 'budget spent'}; means "
                           + ", ".join(f"{n} {m:.2f}" for n, m in selection.search.means.items()) + ")")
        return trained[selection.best]

    def gate(self, what: str, current: ModelPool, candidate: ModelPool) -> GateResult:
        """The promotion rule for anything that changes how a role answers (adapters, prompts):
        both views play the first ``gate_problems`` validation problems side by side."""
        gate = TaskGate(self.protocol, self.protocol_config, self.task.validation[:self.config.gate_problems],
                        self.config.concurrency)
        with progress_bar(self.console) as progress:
            progress.add_task(f"gating {what} on {len(gate.problems)} validation problems", total=None)
            before, after = gate.score([current, candidate])
        return gate_decision(before, after, self.config.gate)

    def gate_and_publish(self, iteration: int, entries: list[dict[str, Any]]) -> None:
        """Serve the iteration's adapters only if, together, they do not do measurably worse on validation."""
        trained = self.trained(iteration)
        if not trained:
            return
        current = {role: self.pool.registry.current(role) for role in trained}
        candidates = {role: self.pool.load(role, folder) for role, folder in trained.items()}
        result = self.gate(f"iteration {iteration}", self.view(self.pool.pinned(current)),
                           self.view(self.pool.pinned(candidates)))
        self.report.gates[f"it{iteration}"] = asdict(result)
        for entry in entries:
            if entry["role"] in candidates:
                if result.promote:
                    self.pool.promote(entry["role"], candidates[entry["role"]])
                    entry["version"] = candidates[entry["role"]]
                else:
                    self.pool.unload(candidates[entry["role"]])
        verdict = "[green]promoted[/]" if result.promote else "[red]not promoted[/]"
        self.console.print(f"gate, iteration {iteration}: {verdict} ({result.current:.2f} -> {result.candidate:.2f} "
                           f"on validation; {result.reason})")

    def run(self) -> ImproveReport:
        # The single agent is the base model answering alone, greedy: a debate of one.
        single = replace(self.config.debate, n_agents=1, n_rounds=1, temperature=0.0)
        name, cfg = self.protocol.name, self.protocol_config

        def baseline() -> None:
            self.evaluate(f"{SINGLE_AGENT} (base)", DEBATE, single, 0)
            self.evaluate(f"{name} (base)", self.protocol, cfg, 0)

        def evaluation(iteration: int) -> None:
            self.evaluate(f"{name} (iteration {iteration})", self.protocol, cfg, iteration)
            if self.protocol.single_agent_learns:
                self.evaluate(f"{SINGLE_AGENT} (iteration {iteration})", DEBATE, single, iteration)

        self.phase("baseline", baseline)
        for iteration in range(1, self.config.iterations + 1):
            if self.config.prompts.rounds > 0:
                self.phase(f"prompts_it{iteration}", lambda: self.optimize_prompts(iteration))
            self.phase(f"play_it{iteration}", lambda: self.play_problems(
                self.task.train, self.protocol, cfg, split="train", iteration=iteration, label=name))
            if self.config.augmentation.max_trajectories != 0 and isinstance(self.protocol, RepairableProtocol):
                self.phase(f"augment_it{iteration}", lambda: self.augment(iteration))
            if self.config.train_adapters and self.phase(f"train_it{iteration}", lambda: self.train_and_swap(iteration)):
                self.republish(iteration)
            self.phase(f"eval_it{iteration}", lambda: evaluation(iteration))
        return self.finish()


def improve(config: ImproveConfig = ImproveConfig(), pool: ModelPool | None = None, console: Console | None = None,
            mode: RunMode = "new") -> ImproveReport:
    """Run the improve loop and return its report (also saved in the run folder).

    ``mode``: ``new``, ``resume`` or ``overwrite`` (see :class:`ImproveRun`).
    """
    return ImproveRun(config, pool, console, mode).run()
