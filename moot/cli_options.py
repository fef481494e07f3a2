"""Command-line options derived from config dataclasses, so that a default and its help are written once.

A config documents its fields in its Google-style ``Attributes:`` section; :func:`option`
turns one field into a ``typer.Option`` with the field's default and that text. A field
typed with a ``Literal`` becomes a choice (the parser refuses anything else) as long as the
command annotates its parameter with the same ``Literal``.

Examples:
    >>> from moot.nodes.debate import DebateConfig
    >>> field_help(DebateConfig, "n_agents")
    'Agents answering in parallel.'
    >>> field_default(DebateConfig, "temperature")
    0.3
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

import docstring_parser
import typer

_ROLE = re.compile(r":\w+:`~?(?:[\w.]+\.)?([^`]+)`")


@functools.cache
def _attribute_help(config: type) -> dict[str, str]:
    """Every documented field of ``config`` and its bases: name -> one-line help."""
    helps: dict[str, str] = {}
    for cls in reversed(config.__mro__):
        for param in docstring_parser.parse(cls.__doc__ or "").params:
            text = " ".join((param.description or "").split())
            text = _ROLE.sub(r"\1", text).replace("``", "")
            for name in param.arg_name.split(","):
                helps[name.strip()] = text
    return helps


def field_help(config: type, name: str) -> str:
    """The help text ``config``'s docstring gives field ``name``.

    Raises:
        KeyError: when the field is undocumented (every option must have its help).
    """
    helps = _attribute_help(config)
    if name not in helps:
        raise KeyError(f"{config.__name__}.{name} has no entry in the Attributes section of its docstring")
    return helps[name]


def field_default(config: type, name: str) -> Any:
    """The default of ``config``'s field ``name`` (a factory's value for mutable defaults)."""
    for item in dataclasses.fields(config):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            raise KeyError(f"{config.__name__}.{name} has no default")
    raise KeyError(f"{config.__name__} has no field {name!r}")


def option(config: type, name: str, *flags: str, help: str | None = None, **settings: Any) -> Any:
    """A ``typer.Option`` with the default and help of ``config``'s field ``name``.

    Args:
        config: The dataclass that owns the setting.
        name: Its field.
        *flags: The option's names, when they differ from the parameter's (``"--agents"``).
        help: Replaces the field's help (e.g. when the CLI's default differs, as ``None``
            meaning "each protocol's own"); ``{help}`` in it stands for the field's text.
        **settings: Passed to ``typer.Option`` (``min=``, ``envvar=``, ``default=``, ...).
    """
    text = field_help(config, name)
    default = settings.pop("default", field_default(config, name))
    return typer.Option(default, *flags, help=text if help is None else help.format(help=text), **settings)
