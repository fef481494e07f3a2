"""Scores with their uncertainty, and the reports every run writes: JSON, a table and a plot.

:class:`RunReport` is what every loop's report shares (training entries, timings, the
run's settings, saving); :class:`ImproveReport` adds held-out scores, and the self-play
report (in :mod:`moot.loops.selfplay`) adds per-seat results.
"""

from __future__ import annotations

import json
import math
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (runs have no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class RunReport:
    """What every run reports: its folder, training entries, phase timings and settings.

    A subclass names its files (``stem``), draws its ``plot`` and its ``table``, and says how
    its own results come back from JSON (``restore``), which is how a resumed run picks up
    the results of the phases it does not redo.
    """

    stem: ClassVar[str] = "report"

    run_dir: str
    _: KW_ONLY
    training: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def save(self) -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.png`` into the run folder."""
        folder = Path(self.run_dir)
        json_path = folder / f"{self.stem}.json"
        json_path.write_text(json.dumps(asdict(self), indent=2, default=str))
        return json_path, self.plot(folder / f"{self.stem}.png")

    def snapshot(self) -> dict[str, Any]:
        """The results so far, as JSON (the settings are left out: the run folder keeps them)."""
        return {k: v for k, v in json.loads(json.dumps(asdict(self), default=str)).items() if k not in ("run_dir", "config")}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Take the results of a :meth:`snapshot` back."""
        for key, value in snapshot.items():
            setattr(self, key, value)

    def plot(self, path: Path) -> Path:
        raise NotImplementedError

    @staticmethod
    def _save_figure(fig: Any, path: Path) -> Path:
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        pyplot().close(fig)
        return path

    def table(self) -> Any:
        raise NotImplementedError


SINGLE_AGENT = "single agent"
"""The name of the score of one agent answering alone, greedy: the base model, or after
training the first agent's adapter (how a trained society is compared with one agent)."""


def mean_stderr(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation over the square root of n).

    The one formula every report uses: accuracies (0/1 outcomes), win rates and utilities.

    Examples:
        >>> mean_stderr([1, 0, 1, 1])
        (0.75, 0.25)
    """
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(variance / n)


@dataclass(frozen=True)
class Score:
    """Accuracy of one configuration on one split, with n and the standard error.

    A ``diversity`` score (see :mod:`moot.evaluation.diversity`) keeps its mean value in ``accuracy``;
    reports plot it apart from the accuracies.

    Examples:
        >>> Score.of("base", [True, False, True, True]).accuracy
        0.75
    """

    name: str
    accuracy: float
    n: int
    stderr: float
    iteration: int = 0
    kind: Literal["accuracy", "diversity"] = "accuracy"

    @classmethod
    def of(cls, name: str, outcomes: Sequence[bool], iteration: int = 0) -> "Score":
        accuracy, stderr = mean_stderr([float(o) for o in outcomes])
        return cls(name, accuracy, len(outcomes), stderr, iteration)


@dataclass
class ImproveReport(RunReport):
    """What one improve run measured: held-out scores, training, augmentation, gates and candidate searches."""

    protocol: str
    task: str
    split: str
    scores: list[Score] = field(default_factory=list)
    augmentation: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    candidates: dict[str, Any] = field(default_factory=dict)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    """The prompt lineage: every proposal, its parent, and whether the gate kept it."""

    def restore(self, snapshot: dict[str, Any]) -> None:
        super().restore({**snapshot, "scores": [Score(**s) for s in snapshot["scores"]]})

    def plot(self, path: Path) -> Path:
        plt = pyplot()
        accuracy = [s for s in self.scores if s.kind == "accuracy"]
        diversity = [s for s in self.scores if s.kind == "diversity"]
        panels = [(accuracy, f"accuracy on {self.split} (n={accuracy[0].n if accuracy else 0}, ±1 s.e.)", 1.0)]
        if diversity:
            panels.append((diversity, "agents' diversity, final round (±1 s.e.)", 2.0))
        fig, axes = plt.subplots(1, len(panels), figsize=(max(5, 1.6 * len(self.scores)), 4), squeeze=False,
                                 width_ratios=[max(1, len(scores)) for scores, _, _ in panels])
        for ax, (scores, label, ceiling) in zip(axes[0], panels):
            ax.bar([s.name for s in scores], [s.accuracy for s in scores], yerr=[s.stderr for s in scores], capsize=6,
                   color=["#9aa5b1" if s.iteration == 0 else "#2f80ed" for s in scores])
            for i, s in enumerate(scores):
                ax.text(i, s.accuracy + s.stderr + 0.01, f"{s.accuracy:.2f}", ha="center")
            ax.set_ylabel(label)
            ax.set_ylim(0, min(ceiling, max([s.accuracy + s.stderr for s in scores] + [0.1]) + 0.1))
            plt.setp(ax.get_xticklabels(), rotation=15, ha="right")
        fig.suptitle(f"{self.protocol} on {self.task}")
        return self._save_figure(fig, path)

    def table(self) -> Any:
        from rich.table import Table

        table = Table(title=f"{self.protocol} on {self.task}: held-out {self.split} accuracy (and the agents' diversity)")
        for column in ("configuration", "iteration", "value", "± s.e.", "n"):
            table.add_column(column, justify="left" if column == "configuration" else "right")
        for s in self.scores:
            table.add_row(s.name, str(s.iteration), f"{s.accuracy:.3f}", f"{s.stderr:.3f}", str(s.n))
        table.caption = "; ".join(
            f"{iteration}: {'promoted' if gate['promote'] else 'NOT promoted, the earlier versions kept'} "
            f"(validation {gate['current']:.2f} -> {gate['candidate']:.2f}, n={gate['n']})"
            for iteration, gate in self.gates.items()) or None
        for iteration, search in self.candidates.items():
            picked = f"{iteration}: {search['best']} picked from {len(search['plays'])} candidates after {search['episodes']} validation episodes"
            table.caption = f"{table.caption}; {picked}" if table.caption else picked
        return table


def load_report(run_dir: str | Path) -> ImproveReport:
    """Read a run folder's ``report.json`` back."""
    data = json.loads((Path(run_dir) / "report.json").read_text())
    data["scores"] = [Score(**s) for s in data["scores"]]
    return ImproveReport(**data)


def combine_reports(run_dirs: list[str | Path], out_dir: str | Path) -> ImproveReport:
    """One report of several runs (e.g. with and without augmentation), rows named by run.

    Examples:
        >>> import tempfile
        >>> a, b, out = (Path(tempfile.mkdtemp()) for _ in range(3))
        >>> for folder, accuracy in ((a, 0.2), (b, 0.4)):
        ...     _ = ImproveReport(str(folder), "chain", "arith", "test", [Score("chain (base)", accuracy, 10, 0.1),
        ...                       Score("disagreement (base)", 0.5, 10, 0.2, kind="diversity")]).save()
        >>> scores = combine_reports([a, b], out).scores
        >>> [s.name for s in scores[:2]] == [f"{a.name}: chain (base)", f"{a.name}: disagreement (base)"]
        True
        >>> [s.kind for s in scores]
        ['accuracy', 'diversity', 'accuracy', 'diversity']
    """
    reports = [load_report(d) for d in run_dirs]
    combined = ImproveReport(str(out_dir), " vs ".join(sorted({r.protocol for r in reports})), reports[0].task, reports[0].split)
    for report in reports:
        name = Path(report.run_dir).name
        combined.scores.extend(replace(s, name=f"{name}: {s.name}") for s in report.scores)
        combined.training.extend({**t, "run": name} for t in report.training)
        if report.augmentation:
            combined.augmentation[name] = report.augmentation
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    combined.save()
    return combined
