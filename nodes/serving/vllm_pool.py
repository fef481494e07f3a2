"""A model pool on a vLLM OpenAI-compatible server, with runtime LoRA hot-swap.

Each role's chat model is a ``langchain-openai`` ``ChatOpenAI`` that names, in every
request, the role's current adapter version (or the served base model), read at call time. Publishing loads the adapter
through ``POST /v1/load_lora_adapter`` under a **new** name (same-name reloads hit stale
prefix caches upstream), switches the role only after the server said yes, then unloads
the version before the previous one. The adapter folder must be readable by the server
(same machine or a shared path): the server loads it, not moot.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from pydantic import ConfigDict, Field

from .adapter_registry import AdapterRegistry

from .adapter_validation import AdapterRejected, base_fingerprint, base_linear_shapes, validate_adapter
from .embedded_model import embedded_model_dir
from .model_pool import ModelPool


class ServerError(RuntimeError):
    """The server is unreachable or refused a request; the role keeps its adapter."""


class RoleChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` for one role: each request names the role's current version, read from the
    registry at call time, so an app built once (``prompt | pool.model(role)``) follows every swap."""

    role: str
    registry: AdapterRegistry = Field(exclude=True)
    base_model: str

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        # It follows a registry that lives in this process; a serialized copy would answer with
        # whatever version it was saved on, silently.
        return False

    @property
    def _default_params(self) -> dict[str, Any]:
        return {**super()._default_params, "model": self.registry.current(self.role) or self.base_model}


class VLLMModelPool(ModelPool):
    """Roles served by one vLLM server (``--enable-lora``); the agents of a round go concurrently.

    Args:
        base_url: The server's OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``.
        max_loras: The server's ``--max-loras``; checked before every load.
        max_lora_rank: The server's ``--max-lora-rank``; adapters of a higher rank are refused.
        base_model_dir: The folder the server serves (default: the embedded model); adapters
            are validated against it before the server is asked to load them.
        adapters_root: When set, only adapter folders inside it are sent to the server.
        api_key: The server's ``--api-key``, sent with every request.
        **sampling: Defaults for every model handed out (temperature, max_tokens...).
    """

    def __init__(self, base_url: str, *, max_loras: int = 4, max_lora_rank: int = 16, api_key: str = "EMPTY",
                 timeout_s: float = 120.0, base_model_dir: str | Path | None = None,
                 adapters_root: str | Path | None = None, **sampling: Any) -> None:
        super().__init__()
        self.adapters_root = Path(adapters_root).resolve() if adapters_root else None
        self.base_model_dir = Path(base_model_dir) if base_model_dir else embedded_model_dir()
        self.base_url = base_url.rstrip("/")
        self.root_url = self.base_url.removesuffix("/v1")
        self.max_loras, self.max_lora_rank = max_loras, max_lora_rank
        self.api_key, self.timeout_s, self.sampling = api_key, timeout_s, sampling
        self._http = httpx.Client(timeout=timeout_s, headers={"Authorization": f"Bearer {api_key}"})
        self._run_tag = secrets.token_hex(3)  # keeps names unique across processes sharing a server
        self.served_model = self._served_model()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, f"{self.root_url}{path}", **kwargs)
        except httpx.HTTPError as error:
            raise ServerError(f"vLLM server at {self.root_url} is unreachable: {error}") from error
        if response.status_code >= 400:
            raise ServerError(f"vLLM server refused {method} {path} ({response.status_code}): {response.text.strip()[:500]}")
        return response

    def _served_model(self) -> str:
        models = self._request("GET", "/v1/models").json()["data"]
        base = [m["id"] for m in models if not m.get("parent")]
        if not base:
            raise ServerError(f"vLLM server at {self.root_url} serves no base model")
        return base[0]

    def model(self, role: str, **sampling: Any) -> RoleChatOpenAI:
        settings = {**self.sampling, **sampling}
        return RoleChatOpenAI(model=self.registry.current(role) or self.served_model, role=role, registry=self.registry,
                              base_model=self.served_model, base_url=self.base_url, api_key=self.api_key,
                              timeout=self.timeout_s, max_retries=1, metadata={"role": role}, **settings)

    def _version_name(self, role: str, number: int) -> str:
        return f"{role}_v{number}_{self._run_tag}"

    def _load(self, role: str, version: str, adapter_dir: Path) -> None:
        adapter_dir = adapter_dir.resolve()
        if self.adapters_root is not None and not adapter_dir.is_relative_to(self.adapters_root):
            raise AdapterRejected(f"{adapter_dir} is outside the adapters root {self.adapters_root}; it is not sent to the server")
        validate_adapter(adapter_dir, base_shapes=base_linear_shapes(self.base_model_dir), max_rank=self.max_lora_rank,
                         fingerprint=base_fingerprint(self.base_model_dir),
                         rank_limit=f"the server's limit (--max-lora-rank is {self.max_lora_rank})")
        serving = {r for r, v in self.registry.snapshot().items() if v is not None} | {role}
        if len(serving) > self.max_loras:
            # --max-loras bounds the adapters one batch can mix; every role of a round runs together.
            raise ValueError(
                f"{len(serving)} roles would run their own adapters but the server was started with "
                f"--max-loras {self.max_loras}; restart it with --max-loras {len(serving)} or more"
            )
        self._request("POST", "/v1/load_lora_adapter", json={"lora_name": version, "lora_path": str(adapter_dir)})

    def _unload(self, version: str) -> None:
        self._request("POST", "/v1/unload_lora_adapter", json={"lora_name": version})
