"""MkDocs hook: lay out the source as it installs, for the API reference.

The layer folders (``graphs/``, ``nodes/``, ``training/``, ``stores/``) sit at the repository
root and install as ``moot.graphs`` and so on; static analysis follows folders, so this hook
links them into ``build/api-source/moot`` beside the contents of ``moot/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mkdocs.plugins import event_priority

LAYERS = ("graphs", "nodes", "training", "stores")


# Before mkdocstrings' own on_config, which drops search paths that do not exist yet: on a
# fresh clone the reference would otherwise be read from the editable install, without the layers.
@event_priority(100)
def on_config(config):
    root = Path(config["config_file_path"]).parent
    tree = root / "build" / "api-source" / "moot"
    shutil.rmtree(tree.parent, ignore_errors=True)
    tree.mkdir(parents=True)
    for entry in [*(root / "moot").iterdir(), *(root / layer for layer in LAYERS)]:
        if entry.name != "__pycache__":
            (tree / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    return config
