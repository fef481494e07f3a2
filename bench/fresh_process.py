"""Running one arm of a bench in an interpreter of its own, so that no arm inherits another's imports,
caches or patched functions."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def in_fresh_process(script: str, *args: str) -> dict[str, Any]:
    """Run ``script --one ARGS...`` in a new interpreter and return the JSON row it prints last."""
    done = subprocess.run([sys.executable, script, "--one", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
