"""Check a LoRA adapter folder against the base it is about to be loaded on, before anything loads.

A pool refuses an adapter that would not fit, or that was trained on another base, with
:class:`AdapterRejected`, so a refused load never leaves a half-loaded version behind:

* the folder has an ``adapter_config.json`` and a complete ``adapter_model.safetensors``;
* its rank is within the pool's limit;
* every tensor targets a linear layer the base has, with matching shapes, and holds only
  finite numbers (a NaN would silently empty every reply);
* its manifest's base fingerprint (a hash of the base config and weights) is the pool's; an
  adapter without a manifest (trained elsewhere) is refused unless the pool is told to trust
  unverified adapters, since nothing tells it apart from one made for another base.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import struct
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST_FILE = "moot_manifest.json"  # written by moot.training beside every adapter
WEIGHTS_FILE = "adapter_model.safetensors"


class AdapterRejected(ValueError):
    """The adapter does not fit the base it was offered to; nothing was loaded."""


def safetensors_header(path: Path) -> dict[str, dict]:
    """The tensor table of a safetensors file, after checking that the file holds all of its data.

    Raises:
        AdapterRejected: when the file is truncated or is not safetensors.
    """
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(f.read(length))
    except (ValueError, struct.error) as error:
        raise AdapterRejected(f"{path} is not a readable safetensors file ({error})") from error
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((t["data_offsets"][1] for t in tensors.values()), default=0)
    if 8 + length + end != size:
        raise AdapterRejected(f"{path} is incomplete: {size} bytes, its header describes {8 + length + end}")
    return tensors


def base_linear_shapes(model_dir: str | Path) -> dict[str, tuple[int, int]]:
    """``module name -> (out, in)`` for every 2-D weight of a model folder, read from file headers."""
    shapes = {}
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        for name, tensor in safetensors_header(file).items():
            if name.endswith(".weight") and len(tensor["shape"]) == 2:
                shapes[name.removesuffix(".weight")] = tuple(tensor["shape"])
    return shapes


@functools.cache
def _fingerprint(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for name, _, _ in files:
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def base_fingerprint(model_dir: str | Path) -> str:
    """A hash of a base model's config and weights, the identity an adapter's manifest records.

    A name or a folder path would let an adapter trained on a different base with the same
    shapes load silently; the hash does not. Computed once per file version (about 1 s for
    the embedded model).
    """
    folder = Path(model_dir)
    files = sorted([folder / "config.json", *folder.glob("*.safetensors")])
    return _fingerprint(tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))


def _lora_module(key: str) -> tuple[str, str] | None:
    """``base_model.model.X.lora_A.weight`` -> (``X``, ``lora_A``)."""
    for part in ("lora_A", "lora_B"):
        marker = f".{part}."
        if marker in key:
            return key.split(marker)[0].removeprefix("base_model.model."), part
    return None


def validate_adapter(
    adapter_dir: str | Path,
    *,
    base_shapes: dict[str, tuple[int, int]],
    max_rank: int,
    fingerprint: str | None = None,
    rank_limit: str = "this pool's limit",
    allow_unverified: bool = False,
) -> int:
    """Check ``adapter_dir`` against a base; return its rank.

    Args:
        base_shapes: ``module -> (out, in)`` of the base's linear layers.
        max_rank: The most the pool serves (vLLM's ``--max-lora-rank``).
        fingerprint: The base's :func:`base_fingerprint`; ``None`` skips that check.
        rank_limit: What ``max_rank`` is, as the refusal names it.
        allow_unverified: Accept an adapter without a manifest (its base cannot be verified), with a warning.

    Raises:
        FileNotFoundError: when the folder holds no ``adapter_config.json``.
        AdapterRejected: for any other misfit, naming it.
    """
    folder = Path(adapter_dir)
    config_path = folder / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} is not a peft adapter folder (no adapter_config.json)")
    try:
        rank = int(json.loads(config_path.read_text())["r"])
    except (ValueError, KeyError, TypeError) as error:
        raise AdapterRejected(f"{config_path} has no valid rank 'r' ({error})") from error
    if not 1 <= rank <= max_rank:
        raise AdapterRejected(f"adapter rank {rank} is outside {rank_limit}: 1..{max_rank} ({folder})")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise AdapterRejected(f"{folder} has a config but no weights ({WEIGHTS_FILE})")
    tensors = safetensors_header(weights)
    if not tensors:
        raise AdapterRejected(f"{weights} holds no tensors")
    for key, tensor in tensors.items():
        located = _lora_module(key)
        if located is None:
            continue
        module, part = located
        if module not in base_shapes:
            raise AdapterRejected(f"{folder} targets {module}, which the base model does not have")
        out_features, in_features = base_shapes[module]
        expected = [rank, in_features] if part == "lora_A" else [out_features, rank]
        if list(tensor["shape"]) != expected:
            raise AdapterRejected(
                f"{folder}: {key} has shape {tensor['shape']}, the base needs {expected}; "
                "it was made for another model"
            )
    manifest = folder / MANIFEST_FILE
    recorded = json.loads(manifest.read_text()).get("base_fingerprint") if manifest.is_file() else None
    if fingerprint is not None and recorded is not None and recorded != fingerprint:
        raise AdapterRejected(
            f"{folder} was trained on another base model (fingerprint {recorded}, this pool's base is {fingerprint})"
        )
    if fingerprint is not None and recorded is None:
        if not allow_unverified:
            raise AdapterRejected(f"{folder} has no {MANIFEST_FILE} naming its base, so it cannot be told apart from "
                                  f"an adapter for another base; pass allow_unverified_adapters=True to load it anyway")
        logger.warning("%s records no base fingerprint; its base model cannot be verified", folder)
    _check_finite(weights)
    return rank


def _check_finite(weights: Path) -> None:
    """Refuse weights holding NaN or infinity (a diverged training): served, they empty every reply."""
    import torch
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as tensors:
        for key in tensors.keys():
            if not torch.isfinite(tensors.get_tensor(key)).all():
                raise AdapterRejected(f"{weights}: {key} holds NaN or infinite values (a diverged training?)")
