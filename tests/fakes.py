"""Fake chat models for graph logic."""

from __future__ import annotations

from langchain_core.language_models import FakeListChatModel

from moot.nodes import SharedModelPool


def scripted_pool(**replies: list[str]) -> SharedModelPool:
    """A pool whose role ``r`` answers ``replies[r]`` in order (``debater_0`` is ``debater-0``)."""
    per_role = {role.replace("_", "-"): FakeListChatModel(responses=texts) for role, texts in replies.items()}
    return SharedModelPool(FakeListChatModel(responses=["0"]), per_role)


def every_reply_is_right(text: str) -> str:
    """An answer type under which any reply matches any reference: every episode is rewarded,
    so a loop's training runs whatever a random tiny model says."""
    return "right"
