"""Deprecation warnings that transformers raises at callers moot cannot change (peft, trl)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def quiet_checkpointing_deprecation() -> Iterator[None]:
    """Silence transformers' deprecation of the ``gradient_checkpointing`` names that peft and trl still read.

    Examples:
        >>> with quiet_checkpointing_deprecation():
        ...     warnings.warn("`is_gradient_checkpointing` is deprecated", FutureWarning)
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
        yield
