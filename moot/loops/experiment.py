"""Experiments as files: named arms, each an improve run per seed, run resumably and reported over seeds.

An experiment file (TOML) names the shared settings and the arms; every arm overrides any
:class:`~moot.loops.improve.ImproveConfig` field, nested ones included (key by key). The file
is checked whole against :class:`ExperimentFile` and the config's field types before anything
runs, so a typo, a wrong type or a name that would leave the runs folder stops it with one line::

    name = "claims-sum2"
    seeds = [0, 1]
    [settings]                      # every arm's starting point
    task = "arithmetic"
    level = "sum2"
    iterations = 3
    sizes = { train = 60, validation = 60, test = 100 }
    [[arms]]
    name = "single-agent self-training"
    protocol = "debate"
    debate = { n_agents = 1, n_rounds = 1, temperature = 0.7 }

``moot experiment run FILE`` runs every (arm, seed) into ``runs/<name>/<arm>/seed<seed>``:
a finished run is skipped, an interrupted one resumes at its first unfinished phase, and a
folder whose settings no longer match the file is started again. ``moot experiment report
FILE`` aggregates what has finished: per arm and iteration, the mean over seeds with its
standard error, next to the mean per-run binomial error, as JSON, a table and plots.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
import shutil
import time
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from moot.evaluation.diversity import METRICS as DIVERSITY
from moot.evaluation.report import SINGLE_AGENT, RunReport, mean_stderr, pyplot
from moot.runs.folder import RunFolderInUse


def _suggest(key: str, known: Any) -> str:
    """``; did you mean 'x'?`` for a key that looks like a typo of a known one, else ``''``."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


@functools.cache
def _validator(hint: Any) -> pydantic.TypeAdapter | None:
    try:
        return pydantic.TypeAdapter(hint)
    except pydantic.PydanticSchemaGenerationError:  # a type pydantic cannot check (a function): taken as given
        return None


def _override(value: Any, changes: dict[str, Any], where: str = "settings") -> Any:
    """``value`` (a dataclass) with ``changes`` applied, recursing into nested dataclasses; each
    change is checked against its field's type.

    Raises:
        ValueError: naming the setting (``where`` is its path) and what is wrong with it.

    Examples:
        >>> from moot.loops.improve_config import ImproveConfig
        >>> config = _override(ImproveConfig(), {"iterations": 3, "debate": {"n_agents": 1}})
        >>> config.iterations, config.debate.n_agents, config.debate.n_rounds
        (3, 1, 2)
        >>> _override(ImproveConfig(), {"few_shot": {"k": 2}}).few_shot.k
        2
        >>> _override(ImproveConfig(), {"debate": {"n_agent": 1}})
        Traceback (most recent call last):
        ...
        ValueError: settings.debate: DebateConfig has no setting 'n_agent'; did you mean 'n_agents'?
    """
    hints = typing.get_type_hints(type(value))
    fields = {f.name for f in dataclasses.fields(value)}
    updates = {}
    for key, change in changes.items():
        if key not in fields:
            raise ValueError(f"{where}: {type(value).__name__} has no setting {key!r}{_suggest(key, fields)}")
        current, place = getattr(value, key), f"{where}.{key}"
        block = dataclasses.is_dataclass(current) or (current is None and any(
            dataclasses.is_dataclass(t) for t in typing.get_args(hints[key])))
        if block and not isinstance(change, dict):
            raise ValueError(f"{place}: expected a table of settings (like {key} = {{ ... }}), got {change!r}")
        if dataclasses.is_dataclass(current):
            updates[key] = _override(current, change, place)
        elif block:  # an optional settings block, off by default
            kind = next(t for t in typing.get_args(hints[key]) if dataclasses.is_dataclass(t))
            updates[key] = _override(kind(), change, place)
        elif (validator := _validator(hints[key])) is not None:
            try:
                updates[key] = validator.validate_python(change)
            except pydantic.ValidationError as error:
                raise ValueError(f"{place}: {error.errors()[0]['msg'].lower()}, got {change!r}") from None
        else:
            updates[key] = change
    try:
        return dataclasses.replace(value, **updates)
    except (ValueError, TypeError) as error:  # the config's own checks
        raise ValueError(f"{where}: {error}") from None


def slug(name: str) -> str:
    """A folder name for an arm.

    Examples:
        >>> slug("Multiagent finetuning (consensus)")
        'multiagent-finetuning-consensus'
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


FOLDER_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$"
"""An experiment's name: one folder inside the runs folder (no separators, no leading dot)."""


class _ArmEntry(pydantic.BaseModel):
    # An arm's other keys are its overrides, checked against the improve config afterwards.
    model_config = pydantic.ConfigDict(extra="allow")
    name: str = pydantic.Field(min_length=1)


class ExperimentFile(pydantic.BaseModel):
    """The schema of an experiment file: these keys, of these types, and nothing else."""

    model_config = pydantic.ConfigDict(extra="forbid")
    name: str | None = pydantic.Field(None, pattern=FOLDER_NAME,
                                      description="The experiment's folder under the runs folder (default: the file's name).")
    seeds: list[pydantic.NonNegativeInt] = pydantic.Field([0], min_length=1, description="One run per arm and seed.")
    settings: dict[str, Any] = pydantic.Field({}, description="Every arm's starting point: ImproveConfig fields.")
    arms: list[_ArmEntry] = pydantic.Field(min_length=1, description="The arms: a name and overrides of the settings.")

    @pydantic.field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds repeat: {seeds}")
        return seeds


def _schema_error(path: Path, error: pydantic.ValidationError) -> ValueError:
    """One line naming the file, the key and what is wrong, with a suggestion for a typo."""
    first = error.errors()[0]
    key = "".join(f"[{part + 1}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    if first["type"] == "extra_forbidden":
        return ValueError(f"{path}: unknown key {key!r}{_suggest(key, ExperimentFile.model_fields)}; "
                          f"an experiment file has {', '.join(ExperimentFile.model_fields)}")
    if first["type"] == "string_pattern_mismatch":
        return ValueError(f"{path}: {key} {first['input']!r} must be a plain folder name (letters, digits, space, "
                          f"'.', '_', '-'; no path), so the runs stay inside the runs folder")
    return ValueError(f"{path}: {key or 'the file'}: {first['msg'][0].lower()}{first['msg'][1:]}")


@dataclass(frozen=True)
class Arm:
    """One configuration of an experiment: a name and its overrides of the shared settings."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """An experiment file, loaded (see the module docstring)."""

    name: str
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...] = (0,)
    settings: dict[str, Any] = field(default_factory=dict)
    runs_dir: Path = Path("runs")

    @classmethod
    def load(cls, path: str | Path, runs_dir: str | Path = "runs") -> "Experiment":
        """Read an experiment file and check it whole (:class:`ExperimentFile`, then every arm's
        settings for every seed), before anything runs.

        Raises:
            ValueError: one line naming the file, the key and what is wrong with it.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read experiment file {path}: {error}") from error
        try:
            entries = ExperimentFile.model_validate(data)
        except pydantic.ValidationError as error:
            raise _schema_error(path, error) from None
        name = entries.name or path.stem
        if not re.match(FOLDER_NAME, name):
            raise ValueError(f"{path}: the file's name {name!r} is not a plain folder name; give the experiment a name")
        arms = tuple(Arm(entry.name, dict(entry.model_extra or {})) for entry in entries.arms)
        folders = [slug(a.name) for a in arms]
        if len(set(folders)) != len(folders) or "" in folders:
            raise ValueError(f"{path}: arm names must differ as folder names (letters and digits): {folders}")
        experiment = cls(name, arms, tuple(entries.seeds), entries.settings, Path(runs_dir))
        for number, arm in enumerate(experiment.arms, start=1):  # every configuration before the first one runs
            for seed in experiment.seeds:
                try:
                    experiment.config(arm, seed)
                except ValueError as error:
                    raise ValueError(f"{path}: arm {number} ({arm.name!r}): {error}") from None
        return experiment

    def run_dir(self, arm: Arm, seed: int) -> Path:
        return self.runs_dir / self.name / slug(arm.name) / f"seed{seed}"

    def config(self, arm: Arm, seed: int) -> Any:
        """The improve config of one (arm, seed)."""
        from moot.loops.improve_config import ImproveConfig

        # The arm's blocks change the settings' blocks key by key: a debate = { n_agents = 1 } keeps the settings' rounds.
        config = _override(_override(ImproveConfig(), self.settings, "settings"), arm.settings, "arm")
        return dataclasses.replace(config, seed=seed, run_dir=self.run_dir(arm, seed))

    def finished(self, arm: Arm, seed: int) -> bool:
        return (self.run_dir(arm, seed) / "report.json").is_file()


def run_one(experiment: Experiment, arm: Arm, seed: int, console: Console, pool: Any = None) -> float:
    """Run one (arm, seed), resuming its folder if it was started; returns its wall time in seconds."""
    from moot.loops.improve import ImproveRun

    folder, config = experiment.run_dir(arm, seed), experiment.config(arm, seed)
    mode = "resume" if (folder / "config.json").is_file() else "new"
    started = time.perf_counter()
    try:
        run = ImproveRun(config, pool=pool, console=console, mode=mode)
    except RunFolderInUse as error:  # the file changed since this folder was started
        console.print(f"[yellow]{arm.name}, seed {seed}: {error}; starting it again[/]")
        run = ImproveRun(config, pool=pool, console=console, mode="overwrite")
    run.run()
    return round(time.perf_counter() - started, 1)


def pending_runs(experiment: Experiment, console: Console) -> list[tuple[Arm, int]]:
    """The (arm, seed) pairs not finished yet, seed by seed (every arm of the first seed, then the
    next), so that a comparison of the arms exists before the last seed is done; says how many were skipped."""
    runs = [(arm, seed) for seed in experiment.seeds for arm in experiment.arms]
    jobs = [(arm, seed) for arm, seed in runs if not experiment.finished(arm, seed)]
    if len(jobs) < len(runs):
        console.print(f"{experiment.name}: {len(runs) - len(jobs)} of {len(runs)} runs finished before; skipped")
    return jobs


def suite_progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn(), console=console)


def run_experiment(experiment: Experiment, console: Console | None = None, pool: Any = None) -> dict[str, float]:
    """Run every (arm, seed) not finished yet, one after another in this process; returns each run's
    wall time in seconds (those run now). :func:`moot.loops.experiment_on_ray.run_experiment_on_ray`
    runs them as tasks of a Ray cluster instead."""
    console = console or Console()
    jobs = pending_runs(experiment, console)
    wall: dict[str, float] = {}
    with suite_progress(console) as progress:
        # Only the runs still to do count: skipped ones, done in no time, would make the estimate of the time left absurd.
        suite = progress.add_task(f"experiment {experiment.name}", total=len(jobs))
        for arm, seed in jobs:
            progress.update(suite, description=f"{experiment.name}: {arm.name}, seed {seed}")
            wall[f"{slug(arm.name)}/seed{seed}"] = run_one(experiment, arm, seed, console, pool)
            progress.advance(suite)
    return wall


def _main_score(report: dict[str, Any], iteration: int) -> dict[str, Any] | None:
    """The arm's own accuracy at ``iteration`` (its protocol's score, not the single-agent baseline's)."""
    name = f"{report['protocol']} (base)" if iteration == 0 else f"{report['protocol']} (iteration {iteration})"
    return next((s for s in report["scores"] if s["name"] == name), None)


def _value(report: dict[str, Any], metric: str, iteration: int) -> float | None:
    suffix = "base" if iteration == 0 else f"iteration {iteration}"
    return next((s["accuracy"] for s in report["scores"] if s["name"] == f"{metric} ({suffix})"), None)


def aggregate(experiment: Experiment) -> dict[str, Any]:
    """Per arm and iteration: accuracy mean ± standard error over seeds, the mean per-run binomial
    error, and the means of one agent's greedy score and of the diversity metrics; only finished
    runs count.

    Example: see ``tests/test_experiment.py`` (two seeds' reports, hand-computed).
    """
    rows: dict[str, Any] = {}
    for arm in experiment.arms:
        reports = [json.loads((experiment.run_dir(arm, seed) / "report.json").read_text())
                   for seed in experiment.seeds if experiment.finished(arm, seed)]
        if not reports:
            continue
        iterations = max(r["config"]["iterations"] for r in reports)
        curve = []
        for iteration in range(iterations + 1):
            scores = [s for s in (_main_score(r, iteration) for r in reports) if s is not None]
            if not scores:
                continue
            mean, se = mean_stderr([s["accuracy"] for s in scores])
            point = {"iteration": iteration, "accuracy": round(mean, 4), "stderr_over_seeds": round(se, 4),
                     "stderr_per_run": round(sum(s["stderr"] for s in scores) / len(scores), 4),
                     "seeds": len(scores), "n": scores[0]["n"]}
            for metric in (SINGLE_AGENT, *DIVERSITY):
                values = [v for v in (_value(r, metric, iteration) for r in reports) if v is not None]
                if values:
                    point[metric] = round(sum(values) / len(values), 4)
            curve.append(point)
        rows[arm.name] = {"protocol": reports[0]["protocol"], "curve": curve,
                          "wall_s": [r["timings_s"].get("total") for r in reports]}
    return rows


def report_experiment(experiment: Experiment, out_dir: str | Path | None = None, console: Console | None = None) -> Path:
    """Write ``experiment.json``, ``accuracy.png`` and (where an arm has several agents)
    ``diversity.png`` for what has finished; print the table and where they went.

    With ``out_dir`` (e.g. under ``results/``), every finished run's own ``report.json`` and
    ``report.png`` are copied beside them, under ``runs/<arm>/seed<k>/``.
    """
    out = Path(out_dir) if out_dir else experiment.runs_dir / experiment.name
    out.mkdir(parents=True, exist_ok=True)
    if out_dir:
        for arm in experiment.arms:
            for seed in experiment.seeds:
                if experiment.finished(arm, seed):
                    copy = out / "runs" / slug(arm.name) / f"seed{seed}"
                    copy.mkdir(parents=True, exist_ok=True)
                    for name in ("report.json", "report.png", "config.json"):
                        if (experiment.run_dir(arm, seed) / name).is_file():
                            shutil.copy2(experiment.run_dir(arm, seed) / name, copy / name)
    rows = aggregate(experiment)
    (out / "experiment.json").write_text(json.dumps({"name": experiment.name, "seeds": list(experiment.seeds),
                                                     "arms": rows}, indent=2))
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    color = {name: f"C{i % 10}" for i, name in enumerate(rows)}  # one colour per arm in both plots
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, row in rows.items():
        xs = [p["iteration"] for p in row["curve"]]
        ys = [p["accuracy"] for p in row["curve"]]
        se = [p["stderr_over_seeds"] or p["stderr_per_run"] for p in row["curve"]]
        seeds = max(p["seeds"] for p in row["curve"])
        ax.plot(xs, ys, marker="o", label=f"{name} ({seeds} seed{'s' if seeds > 1 else ''})", color=color[name])
        ax.fill_between(xs, [y - e for y, e in zip(ys, se)], [y + e for y, e in zip(ys, se)], alpha=0.15,
                        color=color[name])
    ax.set_xlabel("iteration (0: base model)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("held-out accuracy (mean over seeds, ±1 s.e.)")
    ax.set_title(experiment.name)
    ax.legend(fontsize=7)
    plots = [RunReport._save_figure(fig, out / "accuracy.png")]
    if any(metric in p for row in rows.values() for p in row["curve"] for metric in DIVERSITY):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for axis, metric in zip(axes, DIVERSITY):
            for name, row in rows.items():
                points = [p for p in row["curve"] if metric in p]
                if points:
                    axis.plot([p["iteration"] for p in points], [p[metric] for p in points], marker="o", label=name,
                              color=color[name])
            axis.set_title(metric)
            axis.set_xlabel("iteration")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].legend(fontsize=7)
        plots.append(RunReport._save_figure(fig, out / "diversity.png"))
    table = Table(title=f"{experiment.name}: held-out accuracy, mean over seeds")
    for column in ("arm", "iteration", "accuracy", "± s.e. (seeds)", "± s.e. (per run)", "seeds", "one agent, greedy",
                   "disagreement"):
        table.add_column(column)
    for name, row in rows.items():
        for p in row["curve"]:
            table.add_row(name, str(p["iteration"]), f"{p['accuracy']:.3f}", f"{p['stderr_over_seeds']:.3f}",
                          f"{p['stderr_per_run']:.3f}", str(p["seeds"]), f"{p.get(SINGLE_AGENT, float('nan')):.2f}",
                          f"{p.get('disagreement', float('nan')):.2f}")
    console = console or Console()
    console.print(table)
    console.print(f"report: {out / 'experiment.json'}  plots: {', '.join(map(str, plots))}")
    return out
