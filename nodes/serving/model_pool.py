"""Model pools: hand each role its chat model and hot-swap role adapters.

A graph asks the pool for ``pool.model(role)`` and never learns what backend answers.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from .adapter_registry import AdapterRegistry, check_role_name
from .compute_dtype import DtypeChoice
from .local_chat_model import LocalChatModel
from .local_engine import LocalEngine


class ModelPool(ABC):
    """Gives every role a chat model; the adapter each role runs is kept in ``registry``."""

    def __init__(self) -> None:
        self.registry = AdapterRegistry()
        self._names_used: set[str] = set()  # a version name is never reused, not even a refused one
        self._loaded: set[str] = set()  # the versions this pool loaded and has not unloaded

    @abstractmethod
    def model(self, role: str, **sampling: Any) -> Runnable:
        """The chat model for ``role``; ``sampling`` overrides temperature, max_tokens, seed."""

    def publish(self, role: str, adapter_dir: str | Path) -> str:
        """Load a trained adapter under a new version name and point ``role`` at it.

        The pointer moves only after the load succeeded, so a failed load leaves the role
        on its adapter. The current and the previous version stay loaded for rollback; the
        one before is unloaded.
        """
        version = self.load(role, adapter_dir)
        self.promote(role, version)
        return version

    def promote(self, role: str, version: str) -> str | None:
        """Serve a loaded ``version`` for ``role``, keep the one it replaces loaded for a rollback,
        and unload the one before that; return the unloaded version's name, if any."""
        retired = self.registry.previous(role)
        self.serve(role, version)
        # One unloaded by hand already is not unloaded again: the swap has happened and must not fail after it.
        if retired is not None and retired not in self.registry.snapshot().values() and retired in self._loaded:
            self.unload(retired)
            return retired
        return None

    def load(self, role: str, adapter_dir: str | Path, version: str | None = None) -> str:
        """Load an adapter under a new version name without serving it; return the name.

        The role's calls keep their current version until :meth:`serve` moves the pointer;
        a :meth:`pinned` view can run the loaded version meanwhile (a promotion gate).
        ``version`` names it explicitly (a restarted learner reloads its versions by name).
        """
        check_role_name(role)
        if version is None:
            number = 1
            while self._version_name(role, number) in self._names_used | self._taken():
                number += 1
            version = self._version_name(role, number)
        elif version in self._taken():
            raise ValueError(f"version {version!r} is loaded already")
        self._load(role, version, Path(adapter_dir))
        self._names_used.add(version)
        self._loaded.add(version)
        return version

    def serve(self, role: str, version: str | None) -> None:
        """Point ``role`` at a loaded ``version`` (``None``: the base model): a hot-swap, or a roll forward."""
        self.registry.switch(role, version)

    def unload(self, version: str) -> None:
        """Unload a version no role serves (requests already given to it are answered first)."""
        if version in self.registry.snapshot().values():
            raise ValueError(f"version {version!r} is being served; point its role elsewhere first")
        self._unload(version)
        self._loaded.discard(version)

    def pinned(self, versions: dict[str, str | None]) -> "ModelPool":
        """A view of this pool (same backend, same loaded adapters) whose roles run ``versions``.

        The view's pointers are its own: serving through the pool is unchanged, so a
        candidate can be scored beside the current version in the same batches.
        """
        view = copy.copy(self)
        view.registry = AdapterRegistry()
        for role, version in {**self.registry.snapshot(), **versions}.items():
            view.registry.switch(role, version)
        return view

    def _load(self, role: str, version: str, adapter_dir: Path) -> None:
        """Load the adapter into the backend under the name ``version``."""
        raise NotImplementedError(f"{type(self).__name__} cannot load adapters")

    def _version_name(self, role: str, number: int) -> str:
        return f"{role}_v{number}"

    def _taken(self) -> set[str]:
        """Names the backend holds already (beyond those this pool loaded)."""
        return set()

    def _unload(self, version: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot unload adapters")

    def rollback(self, role: str) -> str | None:
        """Point ``role`` back at its previous version (which is still loaded)."""
        return self.registry.rollback(role)

    @property
    def backend(self) -> "ModelPool":
        """The pool that runs the models (itself; a :class:`PoolWrapper`'s innermost pool)."""
        return self


class PoolWrapper(ModelPool):
    """A pool that changes what each role's model sees, over any other pool (which may be a wrapper too).

    Subclasses write only :meth:`wrap`. Everything about versions (``load``, ``publish``,
    ``promote``, ``serve``, ``unload``, ``rollback``, the ``registry``) is the inner pool's,
    so a swap through either shows in both, and :meth:`pinned` pins the inner pool and keeps
    the wrapping.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from langchain_core.runnables import RunnableLambda
        >>> class Shouting(PoolWrapper):
        ...     def wrap(self, role, model):
        ...         return model | RunnableLambda(lambda message: message.content.upper())
        >>> inner = SharedModelPool(FakeListChatModel(responses=["four"]))
        >>> Shouting(inner).pinned({"solver": None}).model("solver").invoke("2 + 2?")
        'FOUR'
    """

    def __init__(self, inner: ModelPool) -> None:  # no ModelPool.__init__: the inner pool owns the versions
        self.inner = inner

    @abstractmethod
    def wrap(self, role: str, model: Runnable) -> Runnable:
        """``model`` (the inner pool's for ``role``) as this wrapper serves it."""

    def model(self, role: str, **sampling: Any) -> Runnable:
        return self.wrap(role, self.inner.model(role, **sampling))

    @property
    def registry(self) -> AdapterRegistry:  # type: ignore[override]
        return self.inner.registry

    @property
    def backend(self) -> ModelPool:
        return self.inner.backend

    def load(self, role: str, adapter_dir: str | Path, version: str | None = None) -> str:
        return self.inner.load(role, adapter_dir, version)

    def publish(self, role: str, adapter_dir: str | Path) -> str:
        return self.inner.publish(role, adapter_dir)

    def promote(self, role: str, version: str) -> str | None:
        return self.inner.promote(role, version)

    def serve(self, role: str, version: str | None) -> None:
        self.inner.serve(role, version)

    def unload(self, version: str) -> None:
        self.inner.unload(version)

    def rollback(self, role: str) -> str | None:
        return self.inner.rollback(role)

    def pinned(self, versions: dict[str, str | None]) -> "ModelPool":
        view = copy.copy(self)
        view.inner = self.inner.pinned(versions)
        return view


class LocalModelPool(ModelPool):
    """All roles share one in-process base model; each role's adapter is chosen per call.

    Publishing loads the adapter into the running model (no restart, no base reload),
    then moves the role's pointer. The current and the previous version of each role
    stay loaded; older ones are unloaded.

    Args:
        engine: The shared engine (default: the embedded SmolLM2).
        dtype: Compute type of the default engine (``auto``, ``float32`` or ``bfloat16``).
        **sampling: Defaults for every model the pool hands out (temperature, max_tokens...).
    """

    def __init__(self, engine: LocalEngine | None = None, *, dtype: DtypeChoice = "auto", **sampling: Any) -> None:
        super().__init__()
        self.engine = engine or LocalEngine.from_pretrained(dtype=dtype)
        self.sampling = sampling

    def model(self, role: str, **sampling: Any) -> LocalChatModel:
        return LocalChatModel(engine=self.engine, role=role, registry=self.registry, **{**self.sampling, **sampling})

    def _taken(self) -> set[str]:
        return self.engine.adapters

    def _load(self, role: str, version: str, adapter_dir: Path) -> None:
        self.engine.load_adapter(version, adapter_dir)

    def _unload(self, version: str) -> None:
        self.engine.unload_adapter(version)


class SharedModelPool(ModelPool):
    """Any LangChain chat model (or one per role) for every role, with no adapters.

    Use it to run moot's graphs on a hosted model or on a fake model in tests.

    Examples:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> pool = SharedModelPool(GenericFakeChatModel(messages=iter([AIMessage("42")])))
        >>> pool.model("debater-0").invoke("6*7?").content
        '42'
    """

    def __init__(self, default: BaseChatModel, per_role: dict[str, BaseChatModel] | None = None) -> None:
        super().__init__()
        self.default = default
        self.per_role = per_role or {}

    def model(self, role: str, **sampling: Any) -> Runnable:
        model = self.per_role.get(role, self.default)
        # The role travels in run metadata, so the experience logger files each call under it.
        return (model.bind(**sampling) if sampling else model).with_config(metadata={"role": role})

    def _load(self, role: str, version: str, adapter_dir: Path) -> None:
        raise NotImplementedError(
            "SharedModelPool serves fixed models and cannot load adapters; "
            "use LocalModelPool (transformers) or the vLLM pool to hot-swap trained roles"
        )
