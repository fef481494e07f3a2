"""Shared fixtures: fake chat models for graph logic, a tiny in-process model for training."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest


# Tests whose asserts read a model's numbers (likelihoods, batched against single rows, dtypes)
# run on two differently initialised copies: a test that leaned on the exact text one set of
# weights writes (which is what changes from one CPU's rounding to another's) fails on one of
# them, so the suite checks its own CPU independence. Tests whose scores are scripted, or that
# use the model only to have something to train and swap, run on one copy.
TINY_MODEL_SEEDS = (0, 1)

# The slowest files run first, so that the test processes start on them and the short ones fill in
# around them (``make test`` gives each process whole files, in this order: xdist's own order, by
# number of tests, would leave the slow files for last and one process idle at the end).
SLOWEST_FIRST = ("test_end_to_end_real_model.py", "test_servers.py", "test_langchain_standard.py",
                 "test_end_to_end_selfplay_and_live.py", "test_examples.py", "test_ray.py", "test_learner.py",
                 "test_training_jobs.py", "README.md")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return SLOWEST_FIRST.index(item.path.name) if item.path.name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: within a rank, the collection order


def run_until_it_kills_itself(script: str) -> None:
    """Run ``script`` in a fresh interpreter that must end by SIGKILL (a crash a test stages)."""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]


def build_tiny_model(folder: Path, seed: int, hidden_size: int = 32) -> Path:
    """Save a randomly initialised two-layer Llama with SmolLM2's tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from moot.nodes.serving.embedded_model import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir())
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.5,  # large enough that a LoRA on a random model moves the logits
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session", params=TINY_MODEL_SEEDS, ids=lambda seed: f"tiny-seed{seed}")
def tiny_model_dir_each_seed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised two-layer Llama with SmolLM2's tokenizer and chat template, once per seed."""
    return build_tiny_model(tmp_path_factory.mktemp(f"tiny-llama-{request.param}"), request.param)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One randomly initialised two-layer Llama, for tests whose numbers do not come from the model."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), TINY_MODEL_SEEDS[0])
