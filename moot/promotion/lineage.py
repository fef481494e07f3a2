"""Every version of every role, where it came from, and the moves between them.

A candidate version is promoted (served, the previous one kept on standby for a rollback)
or refused (unloaded, with the gate's reason). After a promotion the new version is watched:
if its live reward falls below the previous version's over ``rollback_window`` episodes, it
is rolled back on its own. :meth:`Lineage.serve` rolls forward or back by hand. All of it is
saved as one JSON file (``learner.json``), so a restarted app serves what it served.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from moot.evaluation.report import mean_stderr
from moot.nodes.serving.model_pool import ModelPool

logger = logging.getLogger(__name__)

VersionStatus = Literal["candidate", "serving", "standby", "refused", "rolled_back", "retired"]


@dataclass
class Version:
    """One adapter version of a role and where it came from.

    Attributes:
        name: The version name the pool serves it under.
        role: Its role.
        adapter_dir: Its adapter folder (with ``moot_manifest.json``).
        parent: The version it was trained from (``None``: the base model).
        status: ``candidate`` (loaded, gated), ``serving``, ``standby`` (the previous
            version, kept loaded for a rollback), ``refused``, ``rolled_back`` or ``retired``.
        examples: New and replayed examples it was trained on.
        created: When it was trained (Unix seconds).
        gate: The gate decision.
        reason: Why it was refused or rolled back.
        search: When several candidates were trained: the episodes the search spent and each one's mean.
    """

    name: str
    role: str
    adapter_dir: str
    parent: str | None
    status: VersionStatus
    examples: dict[str, int]
    created: float
    gate: dict[str, Any] | None = None
    reason: str | None = None
    search: dict[str, Any] | None = None


@dataclass
class LearnerState:
    """Everything a live learner needs to resume, saved as ``learner.json`` in its run folder.

    Attributes:
        run_id: Its records' run id.
        cursors: Per role, the time of the newest record its last distillation used.
        last_distill: When the last distillation started (for ``every_minutes``).
        versions: Every version ever trained, by name.
        serving: The version each role serves (``None``: the base model).
        events: Promotions, refusals, rollbacks and roll-forwards, in order.
    """

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    cursors: dict[str, float] = field(default_factory=dict)
    last_distill: float = field(default_factory=time.time)
    versions: dict[str, Version] = field(default_factory=dict)
    serving: dict[str, str | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write the state to ``path``; adapter folders inside its folder are written relative to
        it, so a copied or moved run folder loads its own adapters."""
        data = asdict(self)
        for version in data["versions"].values():
            folder = Path(version["adapter_dir"])
            if folder.is_absolute() and folder.is_relative_to(path.parent.absolute()):
                version["adapter_dir"] = str(folder.relative_to(path.parent.absolute()))
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2))
        partial.replace(path)  # a crash mid-write leaves the previous state whole

    @classmethod
    def load(cls, path: Path) -> "LearnerState":
        """Read a state written by :meth:`save`, resolving relative adapter folders against ``path``'s folder.

        Examples:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> state = LearnerState(versions={"v1": Version("v1", "agent", str(folder / "adapters" / "v1"), None,
            ...                                              "serving", {}, 0.0)})
            >>> state.save(folder / "learner.json")
            >>> json.loads((folder / "learner.json").read_text())["versions"]["v1"]["adapter_dir"]
            'adapters/v1'
            >>> moved = folder.rename(folder.with_name(folder.name + "-moved"))
            >>> LearnerState.load(moved / "learner.json").versions["v1"].adapter_dir == str(moved / "adapters" / "v1")
            True
        """
        data = json.loads(path.read_text())
        for version in data["versions"].values():
            version["adapter_dir"] = str(path.parent.absolute() / version["adapter_dir"])  # an absolute one stays
        data["versions"] = {name: Version(**v) for name, v in data["versions"].items()}
        return cls(**data)


LiveRewards = Callable[[str, "str | None"], list[float]]
"""``rewards(role, version)``: the live rewards of the episodes a version answered in, oldest first."""


class Lineage:
    """The versions of a pool's roles, and the moves between them, saved in ``path``.

    Args:
        pool: The pool whose pointers the moves change.
        path: The state file (loaded if it exists).
        rewards: Live rewards per role and version (for rollback).
        rollback_window: Rewarded episodes of a new version compared with the previous one's.
        rollback_z: Standard errors of the reward difference that trigger a rollback.
        run_id: The run id of a new state (default: a fresh one).
    """

    def __init__(self, pool: ModelPool, path: Path, rewards: LiveRewards, *, rollback_window: int = 24,
                 rollback_z: float = 2.0, run_id: str | None = None) -> None:
        self.pool, self.path, self.rewards = pool, path, rewards
        self.rollback_window, self.rollback_z = rollback_window, rollback_z
        self.state = (LearnerState.load(path) if path.exists()
                      else LearnerState(run_id=run_id) if run_id else LearnerState())
        self._watch: dict[str, tuple[str | None, list[float]]] = {}  # role -> (previous version, its rewards)
        self._lock = threading.RLock()

    @property
    def versions(self) -> dict[str, Version]:
        return self.state.versions

    def event(self, kind: str, role: str, version: str | None, detail: str) -> None:
        """Append one event to the lineage's history (and the log)."""
        self.state.events.append({"time": time.time(), "event": kind, "role": role, "version": version, "detail": detail})
        logger.info("%s %s %s: %s", kind, role, version, detail)

    def save(self) -> None:
        with self._lock:
            self.state.save(self.path)

    def add(self, version: Version) -> None:
        """Record a new candidate (loaded in the pool, not served)."""
        self.state.versions[version.name] = version

    def promote(self, version: Version) -> None:
        """Serve ``version``; keep its parent on standby and watch the new one for a rollback."""
        role, previous = version.role, version.parent
        baseline = self.rewards(role, previous)[-self.rollback_window:]
        retired = self.pool.promote(role, version.name)
        version.status = "serving"
        self.state.serving[role] = version.name
        if retired in self.state.versions:
            self.state.versions[retired].status = "retired"
        if previous in self.state.versions:
            self.state.versions[previous].status = "standby"
        self._watch[role] = (previous, baseline)
        self.event("promoted", role, version.name, version.gate["reason"] if version.gate else "")

    def refuse(self, version: Version, reason: str) -> None:
        """Unload a candidate the gate refused, keeping why."""
        self.pool.unload(version.name)
        version.status, version.reason = "refused", reason
        self.event("refused", version.role, version.name, reason)

    def check_rollbacks(self) -> None:
        """Roll back each watched role whose new version's live reward fell below its previous one's."""
        for role in list(self._watch):
            self._check_rollback(role)

    def _check_rollback(self, role: str) -> None:
        previous, baseline = self._watch[role]
        current = self.state.serving.get(role)
        window = self.rollback_window
        live = self.rewards(role, current)
        if len(live) < window:
            return
        del self._watch[role]
        if len(baseline) < max(2, window // 2):
            return  # nothing to compare with: the gate's word stands
        (new_mean, new_se), (old_mean, old_se) = mean_stderr(live[:window]), mean_stderr(baseline)
        if new_mean < old_mean - self.rollback_z * (new_se ** 2 + old_se ** 2) ** 0.5:
            reason = f"live reward {new_mean:.3f} over {window} episodes, {old_mean:.3f} before"
            self.pool.rollback(role)
            self.state.serving[role] = previous
            if previous in self.state.versions:
                self.state.versions[previous].status = "serving"
            rolled = self.state.versions[current]  # type: ignore[index]
            self.pool.unload(rolled.name)
            rolled.status, rolled.reason = "rolled_back", reason
            self.event("rolled_back", role, rolled.name, reason)
            self.save()

    def serve(self, role: str, version: str | None) -> None:
        """Serve ``version`` (by name; ``None``: the base model) for ``role`` now: roll forward or back by hand.

        An unloaded version is loaded again from its adapter folder.
        """
        if version is not None:
            if version not in self.state.versions:
                raise KeyError(f"unknown version {version!r}; known: {sorted(self.state.versions)}")
            if version not in self._loaded():
                self.pool.load(role, self.state.versions[version].adapter_dir, version=version)
        current = self.state.serving.get(role)
        self.pool.serve(role, version)
        self.state.serving[role] = version
        if current in self.state.versions:
            self.state.versions[current].status = "standby"
        if version is not None:
            self.state.versions[version].status = "serving"
        self._watch.pop(role, None)
        self.event("served", role, version, "by hand")
        self.save()

    def _loaded(self) -> set[str]:
        return {v.name for v in self.state.versions.values() if v.status in ("candidate", "serving", "standby")}

    def resume(self) -> None:
        """Load and serve again what the saved state served (a restarted app goes on where it stopped)."""
        for role, version in self.state.serving.items():
            if version is None:
                continue
            for name in (self.state.versions[version].parent, version):
                if name in self.state.versions and self.state.versions[name].status in ("serving", "standby"):
                    self.pool.load(role, self.state.versions[name].adapter_dir, version=name)
            self.pool.serve(role, version)
