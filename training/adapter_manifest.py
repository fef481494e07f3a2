"""The small manifest saved beside every trained adapter."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from moot.nodes.serving.adapter_validation import MANIFEST_FILE


@dataclass
class AdapterManifest:
    """What an adapter is and what it learned from.

    Attributes:
        role: The role it was trained for.
        iteration: Improve-loop iteration that produced it.
        base_model: The name of the base model it was trained on (its identity is
            ``base_fingerprint``).
        record_ids: Experience-library records it was trained on.
        train_loss: Mean training loss reported by the trainer.
        settings: The LoRA and optimizer settings used.
        parent: The adapter folder it went on training from (``None``: a fresh LoRA); its
            own manifest lists what it learned before.
        base_fingerprint: Hash of the base's config and weights; a pool whose base hashes
            differently refuses the adapter.
        dtype: The compute type it was trained in. Its weights are saved in float32
            either way, so it loads on a base of either dtype and on vLLM.
    """

    role: str
    iteration: int
    base_model: str
    record_ids: list[str]
    train_loss: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    dtype: str = "float32"
    base_fingerprint: str | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / MANIFEST_FILE
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "AdapterManifest":
        return cls(**json.loads((Path(folder) / MANIFEST_FILE).read_text()))
