"""A run folder belongs to one run: a unique id, refusal to mix runs, resume and overwrite.

Every record a run writes carries its run id (the ``run`` field), so two runs never mix,
not even two runs called ``demo`` in different folders on one shared Chroma server. A
run's finished phases are saved in ``progress.json``, so ``--resume`` continues after a
crash or a kill without redoing them.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Literal

RunMode = Literal["new", "resume", "overwrite"]
CONFIG_FILE = "config.json"
PROGRESS_FILE = "progress.json"
# Settings that may differ between a run and its resumption.
_RESUMABLE_CHANGES = {"run_id", "resolved_dtype", "run_dir"}


class RunFolderInUse(ValueError):
    """The run folder holds another run (or the same run with other settings)."""


def _write_atomically(path: Path, data: Any) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, default=str))
    os.replace(partial, path)


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(old) | set(new))
    found = []
    for key in keys:
        if not prefix and key in _RESUMABLE_CHANGES or key not in old:
            # (a key the run's config lacks is a setting added to moot since: the run was
            # made without it, so a newer moot may resume it)
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return found


def claim_run_folder(run_dir: Path, settings: dict[str, Any], mode: RunMode,
                     forget_records: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Make ``run_dir`` this run's and save its ``config.json``; return the settings with their ``run_id``.

    Args:
        settings: The run's settings as JSON (no ``run_id`` yet).
        mode: ``new`` refuses a folder that holds a run; ``resume`` continues the run
            there (its settings must match); ``overwrite`` clears it first.
        forget_records: Called with the old run id when ``overwrite`` clears a run, to drop
            its records from a library that lives outside the folder.

    Raises:
        RunFolderInUse: on a ``new`` run in a used folder, or a resume with other settings.
        FileNotFoundError: on a resume of a folder that holds no run.
        NotADirectoryError: when ``run_dir`` or a parent is a file.
    """
    config_path = run_dir / CONFIG_FILE
    held = json.loads(config_path.read_text()) if config_path.is_file() else None
    if mode == "resume":
        if held is None:
            raise FileNotFoundError(f"--resume: {run_dir} holds no run to resume (no {CONFIG_FILE})")
        changed = _differences(held, settings)
        if changed:
            raise RunFolderInUse(f"--resume: the settings differ from the run in {run_dir}: " + "; ".join(changed[:5]))
        return {**settings, "run_id": held["run_id"]}
    if held is not None or (run_dir.is_dir() and any(run_dir.iterdir())):
        if mode == "new":
            which = f"run {held.get('run_id', '(no id)')}" if held else "files"
            raise RunFolderInUse(f"{run_dir} already holds {which}; pass --resume to continue it or --overwrite to clear it")
        if held and forget_records is not None and "run_id" in held:
            forget_records(held["run_id"])
        shutil.rmtree(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run folder {run_dir} is a file")
    run_dir.mkdir(parents=True, exist_ok=True)
    claimed = {**settings, "run_id": f"{run_dir.name}-{uuid.uuid4().hex[:8]}"}
    _write_atomically(config_path, claimed)
    return claimed


class RunProgress:
    """The phases a run has finished, each with what it produced, and how many library records
    the run had then; saved after every phase.

    Examples:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> RunProgress(folder).finish("baseline", {"accuracy": 0.2}, library_records=24)
        >>> progress = RunProgress(folder)
        >>> progress.result("baseline"), progress.library_records
        ({'accuracy': 0.2}, 24)
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / PROGRESS_FILE
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._done: dict[str, Any] = saved.get("phases", {})
        self.library_records: int = saved.get("library_records", 0)

    def done(self, phase: str) -> bool:
        return phase in self._done

    def result(self, phase: str) -> Any:
        return self._done[phase]

    def finish(self, phase: str, result: Any, library_records: int) -> None:
        self._done[phase] = result
        self.library_records = library_records
        _write_atomically(self.path, {"phases": self._done, "library_records": library_records})

    def check_library(self, found: int, location: str) -> None:
        """Stop a resume whose library holds fewer of the run's records than its last finished
        phase left there: it was deleted, replaced or damaged, and the run would go on from a
        history it no longer has.

        Raises:
            ValueError: one line with both counts and the way out.
        """
        if found < self.library_records:
            raise ValueError(f"the experience library at {location} holds {found} of this run's records, but "
                             f"{self.library_records} were there after its last finished phase ({self.path}): it "
                             f"lost records. Restore it, or start again with --overwrite")
