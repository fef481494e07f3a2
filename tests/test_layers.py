"""Dependencies point one way: each layer imports only the layers below it (docs/architecture.md draws them)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom first. A unit is a layer folder, or a subpackage of moot/; moot's own modules (the CLI,
# the public API) are the top.
LAYERS = ["stores", "nodes.serving", "nodes", "graphs", "training", "moot.evaluation", "moot.selection",
          "moot.promotion", "moot.runs", "moot.protocols", "moot.live", "moot.loops", "moot"]
FOLDERS = ["moot", "graphs", "nodes", "training", "stores"]


def unit_of(module: str) -> str | None:
    """The layer of a dotted module name (``None``: not moot's)."""
    parts = module.split(".")
    if parts[0] != "moot":
        return None
    if len(parts) > 2 and parts[1:3] == ["nodes", "serving"]:
        return "nodes.serving"
    if len(parts) > 1 and parts[1] in ("graphs", "nodes", "training", "stores"):
        return parts[1]
    if len(parts) > 1 and (ROOT / "moot" / parts[1]).is_dir():
        return f"moot.{parts[1]}"
    return "moot"


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts if parts[0] == "moot" else ["moot", *parts])


def imports_of(path: Path, source: str | None = None) -> set[str]:
    """Every module ``path`` (or ``source``, as if at ``path``) imports: relative imports resolved, lazy ones included."""
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            else:
                found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Dict) and path.name == "__init__.py":  # lazy_loader's submod_attrs
            found.update(f"{package}.{key.value}" for key in node.keys
                         if isinstance(key, ast.Constant) and isinstance(key.value, str))
    return found


def test_every_import_points_down_the_layers():
    upward = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            unit = unit_of(module_of(path))
            for imported in imports_of(path):
                target = unit_of(imported)
                if target is not None and LAYERS.index(target) > LAYERS.index(unit):
                    upward.append(f"{path.relative_to(ROOT)} ({unit}) imports {imported} ({target})")
    assert upward == []


def test_the_checker_sees_upward_imports_absolute_and_relative():
    """The rule above is not vacuous: a store importing a loop, or the engine importing a node, is caught."""
    store, engine = ROOT / "stores" / "probe.py", ROOT / "nodes" / "serving" / "probe.py"
    assert {unit_of(m) for m in imports_of(store, "from moot.loops.improve import ImproveRun")} == {"moot.loops"}
    assert {unit_of(m) for m in imports_of(engine, "from ..debate import DebateConfig")} == {"nodes"}
    assert LAYERS.index("moot.loops") > LAYERS.index("stores") and LAYERS.index("nodes") > LAYERS.index("nodes.serving")
