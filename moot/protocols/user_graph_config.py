"""Settings of a graph of your own (:mod:`moot.protocols.user_graph`), and how its builder is found."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from moot.nodes.answers import AnswerParser, parse_number

GraphBuilder = Callable[[Any], Any]
"""``build_graph(pool) -> graph``: a compiled LangGraph graph (or any runnable) whose models come from moot's ``pool``."""


@dataclass(frozen=True)
class GraphConfig:
    """A graph of your own, as the loops play it.

    Attributes:
        builder: ``path/to/file.py:function`` or ``package.module:function``: a function that
            takes moot's model pool and returns your compiled graph.
        question_key: The input key your graph reads the question from.
        answer_key: The key of your graph's final state that holds its answer.
        parser: Reads the answer (the task's answer type sets it).
    """

    builder: str = ""
    question_key: str = "question"
    answer_key: str = "final_answer"
    parser: AnswerParser = parse_number

    def all_roles(self) -> list[str]:
        """None known in advance: a user graph's roles are those its logged calls name."""
        return []


def is_graph_spec(text: str) -> bool:
    """Whether ``text`` names a graph builder (``file.py:function`` or ``module:function``).

    Examples:
        >>> is_graph_spec("examples/team.py:build_team"), is_graph_spec("debate")
        (True, False)
    """
    module, _, function = text.rpartition(":")
    return bool(module) and function.isidentifier()


@functools.cache
def _import(module: str, stamp: tuple[float, int] | None) -> Any:
    if stamp is None:
        return importlib.import_module(module)
    path = Path(module)
    # A name of its own per file, so two files called graph.py never replace each other.
    name = f"moot_user_graph_{path.stem}_{hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()}"
    spec = importlib.util.spec_from_file_location(name, path)
    loaded = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = loaded  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(loaded)  # type: ignore[union-attr]
    return loaded


def load_builder(spec: str) -> GraphBuilder:
    """The builder function ``spec`` names.

    Raises:
        ValueError: one line naming the file or module and what is wrong (missing, no such
            function, not callable, an error while importing it).
    """
    module, _, function = spec.rpartition(":")
    if not is_graph_spec(spec):
        raise ValueError(f"{spec!r} does not name a graph builder; write path/to/file.py:function")
    path = Path(module)
    is_file = module.endswith(".py")
    if is_file and not path.is_file():
        raise ValueError(f"graph file {path} does not exist")
    try:
        loaded = _import(str(path.resolve()) if is_file else module,
                         (path.stat().st_mtime, path.stat().st_size) if is_file else None)
    except Exception as error:  # noqa: BLE001 - the user's module: any error is reported in one line
        raise ValueError(f"cannot import {module}: {type(error).__name__}: {error}") from error
    builder = getattr(loaded, function, None)
    if not callable(builder):
        raise ValueError(f"{module} has no function {function!r}")
    return builder
