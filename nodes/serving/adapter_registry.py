"""Which adapter version each role runs now: the pointer a hot-swap moves."""

from __future__ import annotations

import re
import threading

_ROLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_role_name(role: str) -> str:
    """Return ``role`` if it is safe as a folder and adapter name, else raise ``ValueError``.

    Role names become adapter folders, served model names and peft adapter names (which may
    not contain ``.``), so they are held to letters, digits, ``_`` and ``-`` and start with a
    letter or digit.

    Examples:
        >>> check_role_name("debater-0")
        'debater-0'
        >>> check_role_name("../../escaped")
        Traceback (most recent call last):
        ...
        ValueError: unsafe role name '../../escaped': use letters, digits, '_' and '-' (at most 64)
        >>> check_role_name("buyer.it1")
        Traceback (most recent call last):
        ...
        ValueError: unsafe role name 'buyer.it1': use letters, digits, '_' and '-' (at most 64)
    """
    if not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"unsafe role name {role!r}: use letters, digits, '_' and '-' (at most 64)")
    return role


class AdapterRegistry:
    """Thread-safe map from role to its adapter version, with history for rollback.

    ``None`` means the base model. Switching is one assignment under a lock, so a call
    sees either the old version or the new one, never a mix.

    Examples:
        >>> registry = AdapterRegistry()
        >>> registry.switch("critic", "critic_v1")
        >>> registry.switch("critic", "critic_v2")
        >>> registry.current("critic"), registry.rollback("critic")
        ('critic_v2', 'critic_v1')
        >>> registry.current("nobody") is None
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._history: dict[str, list[str | None]] = {}

    def current(self, role: str) -> str | None:
        with self._lock:
            history = self._history.get(role)
            return history[-1] if history else None

    def previous(self, role: str) -> str | None:
        """The version the role ran before its current one (``None``: the base)."""
        with self._lock:
            history = self._history.get(role, [])
            return history[-2] if len(history) >= 2 else None

    def switch(self, role: str, version: str | None) -> None:
        with self._lock:
            self._history.setdefault(role, [None]).append(version)

    def rollback(self, role: str) -> str | None:
        """Point the role back at its previous version and return that version."""
        with self._lock:
            history = self._history.get(role, [])
            if len(history) < 2:
                raise ValueError(f"role {role!r} has no earlier version to roll back to")
            history.pop()
            return history[-1]

    def versions(self, role: str) -> list[str]:
        """Every version the role has run, oldest first (the base excluded)."""
        with self._lock:
            return [v for v in self._history.get(role, []) if v is not None]

    def snapshot(self) -> dict[str, str | None]:
        """Current version of every role ever switched."""
        with self._lock:
            return {role: history[-1] for role, history in self._history.items()}
