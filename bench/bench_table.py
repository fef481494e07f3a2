"""How a bench saves its rows and shows them: a JSON file under ``results/`` and a Markdown table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


def save_and_show(rows: Sequence[dict[str, Any]], out: Path, columns: dict[str, str]) -> None:
    """Write ``rows`` to ``out`` as JSON and print them as a table of ``columns`` (key -> heading)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(list(rows), indent=2) + "\n")
    print("| " + " | ".join(columns.values()) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for key in columns) + " |")
