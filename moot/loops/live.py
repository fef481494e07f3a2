"""``moot live``: a protocol serves a stream of traffic while the live learner distils behind it.

The task's training problems are replayed as traffic (``traffic_concurrency`` episodes in
flight, so the rate is what the machine sustains) for ``minutes``, each rewarded from its
answer. A :class:`~moot.live.learner.Learner` distils, gates on validation problems and
hot-swaps in the background. The first and the final versions are scored on the held-out
test split (not counted in the minutes). The report has the traffic timeline (rolling
accuracy with each promotion, refusal and rollback, latency p50/p95 per minute) and the
serving latency with and without a distillation running.

An interrupted run resumes with ``--resume``: the traffic's requests and events are logged
as they happen (``traffic.jsonl``), so the resumed run continues the timeline, serves only
the minutes left, and numbers its episodes under a new attempt (``a2-...``), never reusing
an id.
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from moot.promotion.gate import TaskGate
from moot.loops.task_run import TaskRun
from moot.live.learner import Learner
from moot.loops.live_config import LiveConfig
from moot.nodes.serving.model_pool import ModelPool
from moot.protocols import DEBATE
from moot.evaluation.report import ImproveReport, mean_stderr, pyplot
from moot.runs.folder import RunMode
from moot.evaluation.tasks import Problem


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; 0 for none.

    Examples:
        >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5), quantile([1.0, 2.0, 3.0, 4.0], 0.95)
        (2.0, 4.0)
    """
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def latency_while_distilling(traffic: list[dict[str, Any]]) -> dict[str, Any]:
    """Serving latency p50/p95 of episodes that overlapped a distillation, beside those that did not.

    One home for the comparison: the live report and ``bench/live_latency.py`` both use it.
    """
    split: dict[str, Any] = {}
    for key, rows in (("idle", [t for t in traffic if not t["distilling"] and not t["failed"]]),
                      ("distilling", [t for t in traffic if t["distilling"] and not t["failed"]])):
        latencies = [t["latency_s"] for t in rows]
        split[key] = {"n": len(rows), "p50_s": round(quantile(latencies, 0.5), 2), "p95_s": round(quantile(latencies, 0.95), 2)}
    idle = split["idle"]["p95_s"]
    split["p95_ratio"] = round(split["distilling"]["p95_s"] / idle, 2) if idle else None
    return split


@dataclass
class LiveReport(ImproveReport):
    """A live run: held-out scores of the first and final versions, the traffic, the learner's events."""

    stem = "live"

    minutes: float = 0.0
    traffic: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    latency: dict[str, Any] = field(default_factory=dict)

    def plot(self, path: Path) -> Path:
        plt = pyplot()
        fig, (acc, lat) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        rows = sorted(self.traffic, key=lambda t: t["end_s"])
        window = 50
        xs = [t["end_s"] / 60 for t in rows]
        ys = [mean_stderr([float(r["correct"]) for r in rows[max(0, i - window + 1): i + 1]])[0] for i in range(len(rows))]
        acc.plot(xs, ys, color="#2f80ed", label=f"rolling accuracy (last {window} requests)")
        colours = {"promoted": "#27ae60", "refused": "#eb5757", "rolled_back": "#f2994a"}
        for kind, colour in colours.items():
            marks = [e["t_s"] / 60 for e in self.events if e["event"] == kind]
            for i, x in enumerate(marks):
                acc.axvline(x, color=colour, linestyle="--", alpha=0.8, label=kind if i == 0 else None)
        acc.set_ylabel("accuracy on traffic")
        acc.set_ylim(0, 1)
        acc.legend(loc="upper left", fontsize=8)
        acc.set_title(f"moot live: {self.protocol} on {self.task}")
        minutes = sorted({int(t["end_s"] // 60) for t in rows})
        for q, style in ((0.5, "-"), (0.95, "--")):
            lat.plot([m + 0.5 for m in minutes],
                     [quantile([t["latency_s"] for t in rows if int(t["end_s"] // 60) == m and not t["failed"]], q)
                      for m in minutes], style, color="#333333", label=f"p{int(q * 100)}")
        for span in distillation_spans(self.events):
            lat.axvspan(span[0] / 60, span[1] / 60, color="#f2c94c", alpha=0.25)
        lat.set_ylabel("latency per request (s)")
        lat.set_xlabel("minutes (shaded: a distillation running)")
        lat.legend(loc="upper left", fontsize=8)
        return self._save_figure(fig, path)

    def table(self) -> Any:
        table = super().table()
        table.caption = (f"{len(self.traffic)} requests in {self.minutes:g} min, "
                         f"{sum(t['failed'] for t in self.traffic)} failed; "
                         + ", ".join(f"{k}: {sum(e['event'] == k for e in self.events)}"
                                     for k in ("promoted", "refused", "rolled_back"))
                         + f"; p95 latency {self.latency.get('distilling', {}).get('p95_s')} s distilling vs "
                         f"{self.latency.get('idle', {}).get('p95_s')} s not")
        return table


def distillation_spans(events: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(start, end) seconds of each distillation, from the learner's ``distilling`` / decision events."""
    spans, start = [], None
    for event in events:
        if event["event"] == "distilling":
            start = event["t_s"]
        elif start is not None and event["event"] in ("promoted", "refused", "failed", "cancelled"):
            spans.append((start, event["t_s"]))
            start = None
    return spans


TRAFFIC_FILE = "traffic.jsonl"


class TrafficLog:
    """What a live run's traffic phase has done so far, one JSON line per start, request and
    learner event, on the run's own clock (seconds of traffic served), so that a resumed run
    continues the timeline, serves only the minutes left and never reuses an episode id.

    Examples:
        >>> import tempfile
        >>> log = TrafficLog(Path(tempfile.mkdtemp()) / TRAFFIC_FILE)
        >>> log.start()
        1
        >>> log.append("request", {"start_s": 0.0, "end_s": 2.5})
        >>> again = TrafficLog(log.path)
        >>> again.start(), again.served_s, len(again.requests)
        (2, 2.5, 1)
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.attempts = 0
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        lines = path.read_text().splitlines() if path.is_file() else []
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # the line a kill cut short
                continue
            self.attempts += "attempt" in entry
            if "request" in entry:
                self.requests.append(entry["request"])
            if "event" in entry:
                self.events.append(entry["event"])
        self.served_s: float = max([r["end_s"] for r in self.requests] + [e["t_s"] for e in self.events], default=0.0)
        self._lock = threading.Lock()

    def start(self) -> int:
        """Record a new attempt at the traffic (before any of its episodes starts); return its number."""
        self.attempts += 1
        self.append("attempt", {"number": self.attempts, "served_s": self.served_s})
        return self.attempts

    def append(self, kind: str, entry: dict[str, Any]) -> None:
        with self._lock, self.path.open("a") as out:
            out.write(json.dumps({kind: entry}) + "\n")


class LiveRun(TaskRun[LiveReport]):
    """One ``moot live`` run (see the module docstring)."""

    config: LiveConfig

    def __init__(self, config: LiveConfig, pool: ModelPool | None = None, console: Console | None = None,
                 mode: RunMode = "new") -> None:
        super().__init__(config, pool, console, mode)
        # A debate's roles are gated by a single greedy agent (one call per problem, not six);
        # other protocols are gated by playing themselves.
        gate = (TaskGate(DEBATE, replace(config.debate, n_agents=1, n_rounds=1, temperature=0.0),
                         self.task.validation[:config.gate_problems])
                if self.protocol is DEBATE else
                TaskGate(self.protocol, self.protocol_config, self.task.validation[:config.gate_problems]))
        self.learner = Learner(
            self.pool, self.run_dir, config=config.learner, annotators=self.protocol.annotators,
            curate=lambda records, feedback: self.protocol.curate(records, config.curation), gate=gate,
            base_model_dir=self.base_model_dir, library=self.library, run_id=self.run_id)

    def new_report(self, settings: dict[str, Any]) -> LiveReport:
        return LiveReport(str(self.run_dir), self.protocol.name, self.task.label, "test", config=settings,
                          minutes=self.config.minutes)

    def run(self) -> LiveReport:
        name, cfg = self.protocol.name, self.protocol_config
        self.phase("first_version", lambda: self.evaluate(f"{name} (first version)", self.protocol, cfg, 0))
        self.phase("traffic", self.serve_traffic)
        self.phase("final_version", lambda: self.evaluate(f"{name} (final version)", self.protocol, cfg, 1))
        return self.finish()  # type: ignore[return-value]

    def serve_traffic(self) -> None:
        """Serve traffic for the minutes not served yet; a resume continues the interrupted attempt's timeline."""
        report: LiveReport = self.report  # type: ignore[assignment]
        log = TrafficLog(self.run_dir / TRAFFIC_FILE)
        attempt = log.start()
        report.traffic, report.events = list(log.requests), list(log.events)
        if log.served_s:
            self.console.print(f"[dim]traffic: {log.served_s / 60:.1f} of {self.config.minutes:g} min served "
                               f"before this resume; serving the rest[/]")
        graph = self.protocol.build(self.pool, self.protocol_config)
        problems = list(self.task.train)
        rng = random.Random(f"{self.config.seed}/{attempt}")  # a resumed stream does not replay the same order
        name = self.protocol.name
        started, wall_started = time.monotonic() - log.served_s, time.time()
        deadline = started + 60 * self.config.minutes
        lock = threading.Lock()
        counter = iter(range(10**9))
        logged_events = 0

        def one(problem: Problem) -> None:
            k = next(counter)
            busy_before = self.learner.activity != "idle"
            t0 = time.monotonic()
            metadata = self.episode_metadata(iteration=0, split="train", label="traffic",
                                             item=f"a{attempt}-{k}-{problem.id}", protocol=name, task=self.task.name,
                                             problem_id=problem.id, target=problem.answer, question=problem.question)
            try:
                state = graph.invoke({"question": problem.question},
                                     self.learner.config(**{key: v for key, v in metadata.items() if key != "run"}))
                correct, failed = self.protocol.final_answer(state) == problem.answer, False
            except Exception:  # noqa: BLE001 - a failed request is counted, never hidden
                correct, failed = False, True
            t1 = time.monotonic()
            row = {"start_s": round(t0 - started, 2), "end_s": round(t1 - started, 2), "latency_s": round(t1 - t0, 3),
                   "correct": correct, "failed": failed, "distilling": busy_before or self.learner.activity != "idle",
                   "versions": dict(self.learner.state.serving)}
            with lock:
                report.traffic.append(row)
            log.append("request", row)

        def log_new_events() -> None:
            nonlocal logged_events
            new = [e for e in self.learner.state.events if e["time"] >= wall_started][logged_events:]
            for event in new:
                entry = {**event, "t_s": round(log.served_s + event["time"] - wall_started, 1)}
                report.events.append(entry)
                log.append("event", entry)
            logged_events += len(new)

        def next_problem() -> Problem:
            if not pending_problems:
                pending_problems.extend(rng.sample(problems, len(problems)))
            return pending_problems.pop()

        pending_problems: list[Problem] = []
        self.learner.start()
        try:
            with ThreadPoolExecutor(self.config.traffic_concurrency) as workers, \
                    Live(self._view(started), console=self.console, refresh_per_second=1) as view:
                in_flight: set[Future] = ({workers.submit(one, next_problem())
                                           for _ in range(self.config.traffic_concurrency)}
                                          if time.monotonic() < deadline else set())
                while in_flight:
                    done, in_flight = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                    if time.monotonic() < deadline:
                        in_flight |= {workers.submit(one, next_problem()) for _ in done}
                    log_new_events()
                    view.update(self._view(started))
        finally:
            self.learner.stop(finish_current=self.config.finish_distillation)
            log_new_events()
        report.latency = latency_while_distilling(report.traffic)

    def _view(self, started: float) -> Table:
        report: LiveReport = self.report  # type: ignore[assignment]
        status = self.learner.status()
        recent = report.traffic[-50:]
        table = Table(title=f"moot live: {self.protocol.name} on {self.task.name}", show_header=False)
        table.add_row("elapsed", f"{(time.monotonic() - started) / 60:.1f} / {self.config.minutes:g} min")
        table.add_row("requests served", f"{len(report.traffic)} ({sum(t['failed'] for t in report.traffic)} failed)")
        table.add_row("rolling accuracy", f"{mean_stderr([float(t['correct']) for t in recent])[0]:.2f} (last {len(recent)})")
        serving = status["serving"] or dict.fromkeys(self.protocol.roles(self.protocol_config))
        for role, version in serving.items():
            table.add_row(f"serving {role}", version or "base")
        table.add_row("distiller", status["activity"])
        table.add_row("promoted / refused / rolled back",
                      f"{status['promoted']} / {status['refused']} / {status['rolled_back']}")
        return table


def live(config: LiveConfig = LiveConfig(), pool: ModelPool | None = None, console: Console | None = None,
         mode: RunMode = "new") -> LiveReport:
    """Run ``moot live`` and return its report (also saved in the run folder as ``live.json`` and ``live.png``)."""
    return LiveRun(config, pool, console, mode).run()  # type: ignore[return-value]

