"""A training process that yields the CPU to serving: paused while requests are in flight, with a floor.

Nice levels only order two processes that both want a core; a distillation at nice 10 still
takes its share of every core that serving would use next. So while serving has requests
in flight, the training process is stopped (``SIGSTOP``) and resumed (``SIGCONT``) when the
engine is idle. A floor keeps training from starving under steady traffic: over a sliding
window it runs at least ``min_share`` of the time, busy or not.

Examples:
    >>> import subprocess, sys
    >>> child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    >>> with TrafficYield(lambda: child.pid, busy=lambda: True, min_share=0.0) as yielding:
    ...     _ = yielding.wait_for_tick()
    ...     yielding.paused
    True
    >>> yielding.paused        # leaving the block always resumes it
    False
    >>> child.kill(); _ = child.wait()
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from typing import Any, Callable


class TrafficYield:
    """Pause the process ``pid()`` while ``busy()``, keeping it running at least ``min_share`` of the time.

    Args:
        pid: The training process's id now (None while it has not started).
        busy: Whether serving has work in flight.
        min_share: The least share of time the process runs over the last ``window_s`` seconds.
        period_s: How often ``busy`` is read.
        window_s: The window over which ``min_share`` holds.
    """

    def __init__(self, pid: Callable[[], int | None], busy: Callable[[], bool], min_share: float = 0.25,
                 period_s: float = 0.05, window_s: float = 2.0) -> None:
        if not 0.0 <= min_share <= 1.0:
            raise ValueError(f"min_share must be in [0, 1], got {min_share}")
        self._pid, self._busy, self.min_share, self.period_s = pid, busy, min_share, period_s
        self._ran: deque[bool] = deque(maxlen=max(1, round(window_s / period_s)))
        self._stopped: int | None = None  # the pid this paused
        self._done = threading.Event()
        self._ticked = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="moot-traffic-yield", daemon=True)

    @property
    def paused(self) -> bool:
        return self._stopped is not None

    def __enter__(self) -> "TrafficYield":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join()
        self._resume()

    def wait_for_tick(self, timeout: float = 5.0) -> bool:
        """Block until the next decision (for tests and examples)."""
        with self._ticked:
            return self._ticked.wait(timeout)

    def _run(self) -> None:
        while not self._done.wait(self.period_s):
            pid = self._pid()
            ran_share = sum(self._ran) / len(self._ran) if self._ran else 1.0
            if pid is not None and self._busy() and ran_share >= self.min_share:
                self._pause(pid)
            else:
                self._resume()
            self._ran.append(not self.paused)
            with self._ticked:
                self._ticked.notify_all()

    def _pause(self, pid: int) -> None:
        if self._stopped != pid:
            self._resume()
            if _signal(pid, signal.SIGSTOP):
                self._stopped = pid

    def _resume(self) -> None:
        if self._stopped is not None:
            _signal(self._stopped, signal.SIGCONT)
            self._stopped = None


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:  # it ended (a finished or cancelled job): nothing to pause or resume
        return False
