"""Faults injected on purpose: a library server that goes away mid-run, and writes that must survive it.

(A kill -9 during play and the resume after it: ``test_run_folder.py``; a kill during
training and a refused adapter load: ``test_adapter_validation.py``.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from moot.stores import ExperienceLibrary, ExperienceRecord

pytestmark = pytest.mark.servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    chroma = Path(sys.executable).with_name("chroma")
    return subprocess.Popen([str(chroma), "run", "--path", str(path), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def connect(url: str, server: subprocess.Popen, **kwargs) -> ExperienceLibrary:
    deadline = time.monotonic() + 60
    while True:
        try:
            return ExperienceLibrary(url, **kwargs)
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.3)


def records(start: int, n: int) -> list[ExperienceRecord]:
    return [ExperienceRecord(f"r{i}", str(i), [{"role": "user", "content": f"q{i}"}], {"run": "fault"})
            for i in range(start, start + n)]


def test_writes_survive_the_library_server_going_away_mid_run(tmp_path):
    port, db = free_port(), tmp_path / "db"
    url = f"http://127.0.0.1:{port}"
    server = start_chroma(db, port)
    try:
        library = connect(url, server, retry_delays_s=(0.5, 1.0, 2.0, 4.0, 8.0, 8.0))
        library.add(records(0, 20))
        server.terminate()
        server.wait(timeout=30)
        # The write below starts while the server is down and must land once it is back.
        failures: list[BaseException] = []
        writer = threading.Thread(target=lambda: _add(library, records(20, 20), failures))
        writer.start()
        time.sleep(1.0)
        server = start_chroma(db, port)
        writer.join(timeout=90)
        assert not writer.is_alive() and failures == []
        found = connect(url, server).find(run="fault")
        assert len(found) == 40 and len({r.id for r in found}) == 40  # 0 lost, 0 duplicated
    finally:
        server.terminate()
        server.wait(timeout=30)


def _add(library: ExperienceLibrary, batch: list[ExperienceRecord], failures: list[BaseException]) -> None:
    try:
        library.add(batch)
    except BaseException as error:  # noqa: BLE001 - reported by the test
        failures.append(error)


def test_a_write_that_keeps_failing_is_raised_after_the_retries(tmp_path, monkeypatch):
    library = ExperienceLibrary(tmp_path / "lib", retry_delays_s=(0.0, 0.0))
    calls = []

    def down(*args, **kwargs):
        calls.append(1)
        raise ConnectionError("server gone")

    monkeypatch.setattr(library.collection, "upsert", down)
    with pytest.raises(ConnectionError):
        library.add(records(0, 3))
    assert len(calls) == 3  # the first try and two retries
