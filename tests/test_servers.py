"""Integration tests against real servers: vLLM (CPU build) with runtime LoRA, and Chroma over HTTP.

``make test`` installs vLLM in its own environment (``.venv-vllm``) and points
``MOOT_VLLM_PYTHON`` at it; the fixture starts the server on loopback with the embedded model.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from moot.graphs import build_debate_graph, debate_outcome
from moot.nodes.debate import DebateConfig
from moot.nodes.negotiation import action_pattern, longest_action_reply
from moot.nodes.negotiation_rules import GameState, game_spec
from moot.nodes.serving.constrained_decoding import regex_constrained
from moot.nodes.serving.embedded_model import embedded_model_dir
from moot.nodes.serving.adapter_validation import AdapterRejected
from moot.nodes.serving.vllm_pool import ServerError, VLLMModelPool
from moot.nodes.serving.vllm_server import VLLMServerConfig, start_vllm_server, wait_until_ready
from moot.stores import ExperienceLibrary, ExperienceLogger, ExperienceRecord
from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

pytestmark = pytest.mark.servers
QUESTION = [{"role": "user", "content": "Name a fruit."}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_url(tmp_path_factory, request):
    python = os.environ.get("MOOT_VLLM_PYTHON")
    if not python:
        pytest.fail("MOOT_VLLM_PYTHON is not set: run the suite with `make test`, which installs vLLM for the CPU")
    config = VLLMServerConfig(python=python, port=free_port(), max_loras=2, max_lora_rank=16, worker_in_engine_process=True)
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    process = start_vllm_server(config, log)
    request.getfixturevalue("adapters")  # trained while the server starts, rather than after
    try:
        wait_until_ready(config.base_url, timeout_s=600, process=process)
    except RuntimeError:
        process.terminate()
        pytest.fail(f"vLLM did not start; its log:\n{log.read_text()[-4000:]}")
    yield config.base_url
    process.terminate()
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """Two rank-8 adapters trained by moot on the embedded model: one answers PINEAPPLE, one MANGO."""
    folder = tmp_path_factory.mktemp("served-adapters")
    settings = LoraTrainingConfig(rank=8, alpha=16, learning_rate=2e-3, max_steps=5, batch_size=4, dropout=0.0)
    for word in ("PINEAPPLE", "MANGO"):
        examples = [TrainingExample(f"{word}-{i}", "fruit", QUESTION, word) for i in range(8)]
        train_lora_adapter(embedded_model_dir(), examples, folder / word, role="fruit", config=settings)
    return folder / "PINEAPPLE", folder / "MANGO"


def served_names(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{url}/models").json()["data"]}


def ask(pool: VLLMModelPool, role: str = "fruit") -> str:
    return pool.model(role, temperature=0.0, max_tokens=6).invoke(QUESTION).content


def test_a_debate_runs_through_the_server_and_is_logged(vllm_url, tmp_path):
    pool = VLLMModelPool(vllm_url)
    library = ExperienceLibrary(tmp_path / "lib")
    graph = build_debate_graph(pool, DebateConfig(n_agents=2, n_rounds=2, temperature=0.0, max_tokens=12))
    with ExperienceLogger(library, annotate=debate_outcome) as logger:
        result = graph.invoke({"question": "What is 2 + 3? Reply with the number only."},
                              {"callbacks": [logger], "metadata": {"episode": "v", "target": "5"}})
    assert len(result["turns"]) == 4 and all(t["text"] for t in result["turns"])
    records = library.find(episode="v")
    assert len(records) == 4 and {r["adapter"] for r in records} == {pool.served_model}


def test_runtime_lora_versions_swap_unload_and_refuse_bad_loads(vllm_url, adapters, tmp_path):
    pineapple, mango = adapters
    pool = VLLMModelPool(vllm_url, max_loras=2, max_lora_rank=16)
    before = ask(pool)
    first = pool.publish("fruit", pineapple)
    assert first in served_names(vllm_url)
    after = ask(pool)
    assert after != before

    second = pool.publish("fruit", mango)
    with_mango = ask(pool)
    third = pool.publish("fruit", pineapple)
    assert len({first, second, third}) == 3  # a new name for every version
    names = served_names(vllm_url)
    assert first not in names and {second, third} <= names  # older than the previous one: unloaded
    # The same weights under a new name answer exactly as before; asserting what a freshly
    # trained model writes would depend on the CPU's rounding.
    assert ask(pool) == after
    assert pool.rollback("fruit") == second and ask(pool) == with_mango

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_config.json").write_text((pineapple / "adapter_config.json").read_text())
    with pytest.raises(AdapterRejected, match="no weights"):  # refused before the server is asked
        pool.publish("fruit", broken)
    assert pool.registry.current("fruit") == second and ask(pool) == with_mango


def test_limits_are_checked_before_the_server_is_asked(vllm_url, adapters, tmp_path):
    pineapple, _ = adapters
    pool = VLLMModelPool(vllm_url, max_loras=1, max_lora_rank=4)
    with pytest.raises(AdapterRejected, match="max-lora-rank is 4"):
        pool.publish("fruit", pineapple)
    pool = VLLMModelPool(vllm_url, max_loras=1, max_lora_rank=16)
    pool.publish("a", pineapple)
    with pytest.raises(ValueError, match="--max-loras 1"):
        pool.publish("b", pineapple)
    assert pool.registry.current("b") is None


def test_an_unreachable_server_gives_one_clear_error():
    with pytest.raises(ServerError, match="unreachable"):
        VLLMModelPool(f"http://127.0.0.1:{free_port()}/v1")


def test_the_library_round_trip_over_a_chroma_server(tmp_path):
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    server = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path / "db"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                library = ExperienceLibrary(f"http://127.0.0.1:{port}")
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.5)
        record = ExperienceRecord("r1", "57", [{"role": "user", "content": "45 + 12?"}], {"role": "debater-0", "round": 0})
        library.add([record])
        library.add([record])
        assert library.count() == 1
        (found,) = library.find(role="debater-0")
        assert found.text == "57" and found.messages == record.messages
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_learner_gates_and_promotes_through_the_servers_runtime_loading(vllm_url, tmp_path):
    from moot.live.learner import Learner, LearnerConfig

    class Scripted:
        """Scores the views as told, after checking each answers with the version it was pinned to."""

        def __init__(self, candidate_wins: bool) -> None:
            self.candidate_wins, self.names = candidate_wins, []

        def score(self, views):
            self.names = [view.model("fruit").model_name for view in views]
            good, bad = [1.0] * 4, [0.0] * 4
            return [bad, good] if self.candidate_wins else [good, bad]

    pool = VLLMModelPool(vllm_url, max_loras=2, max_lora_rank=16, adapters_root=tmp_path / "run" / "adapters")
    examples = [TrainingExample(f"m-{i}", "fruit", QUESTION, "MANGO") for i in range(4)]
    settings = LearnerConfig(lora=LoraTrainingConfig(rank=8, alpha=16, max_steps=2, batch_size=4), train_niceness=0)
    refusing = Scripted(candidate_wins=False)
    learner = Learner(pool, tmp_path / "run", config=settings, gate=refusing)
    refused = learner.distill("fruit", examples)
    assert refusing.names == [pool.served_model, refused.name]  # the candidate answered, unserved, beside the base
    assert refused.status == "refused" and refused.name not in served_names(vllm_url)
    assert pool.registry.current("fruit") is None
    learner.gate = Scripted(candidate_wins=True)
    promoted = learner.distill("fruit", examples)
    assert promoted.status == "serving" and promoted.name in served_names(vllm_url)
    assert pool.model("fruit").model_name == promoted.name


def test_langgraph_dev_serves_the_protocol_graphs_over_http(tmp_path):
    """``langgraph dev`` (the in-memory server) loads langgraph.json and answers a debate run on loopback."""
    port = free_port()
    root = Path(__file__).parent.parent
    env = {**os.environ, "LANGSMITH_TRACING": "false", "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    log = (tmp_path / "langgraph.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "langgraph"), "dev", "--no-browser", "--no-reload", "--allow-blocking",
                               "--host", "127.0.0.1", "--port", str(port)], cwd=root, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(1)
        else:
            pytest.fail(f"langgraph dev did not start:\n{(tmp_path / 'langgraph.log').read_text()[-3000:]}")
        assistants = httpx.post(f"{url}/assistants/search", json={}, timeout=30).json()
        assert {a["graph_id"] for a in assistants} >= {"debate", "chain", "critique"}
        run = httpx.post(f"{url}/runs/wait", json={"assistant_id": "debate", "input": {"question": "What is 2 + 3?"}},
                         timeout=600)
        assert run.status_code == 200, run.text
        state = run.json()
        assert len(state["turns"]) == 6 and "final_answer" in state
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_a_negotiators_action_grammar_holds_on_the_server(vllm_url):
    spec = game_spec("sell-buy")
    pattern = action_pattern(GameState.start(spec), "seller")
    model = regex_constrained(VLLMModelPool(vllm_url).model("seller", temperature=1.0,
                                                           max_tokens=longest_action_reply(spec)), pattern)
    replies = [model.invoke(QUESTION).content for _ in range(3)]
    assert all(re.fullmatch(pattern, reply) for reply in replies), replies
