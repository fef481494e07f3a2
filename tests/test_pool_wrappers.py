"""Pool wrappers (prompts, few-shot memory) compose over any pool and keep its versions working."""

from __future__ import annotations

from typing import Callable

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda

from moot.nodes import FewShotConfig, LocalModelPool, SharedModelPool
from moot.nodes.few_shot_memory import RememberingPool
from moot.nodes.role_prompts import PromptedPool
from moot.nodes.serving import ModelPool, PoolWrapper
from moot.promotion.gate import TrafficGate
from moot.stores import ExperienceLibrary, ExperienceRecord, Feedback
from moot.training import LoraTrainingConfig, TrainingExample, train_lora_adapter

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]
FAST = LoraTrainingConfig(rank=8, alpha=16, learning_rate=1e-2, epochs=1, max_steps=12, batch_size=4, dropout=0.0)

Wrap = Callable[[ModelPool, ExperienceLibrary], PoolWrapper]
WRAPPERS: dict[str, Wrap] = {
    "prompts": lambda pool, library: PromptedPool(pool, {"solver": "Reply with one word."}),
    "few-shot memory": lambda pool, library: RememberingPool(pool, library, FewShotConfig(k=2)),
    "both": lambda pool, library: PromptedPool(RememberingPool(pool, library, FewShotConfig(k=2)), {"solver": "Be brief."}),
}


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory):
    examples = [TrainingExample(f"r{i}", "solver", QUESTION, "apple") for i in range(8)]
    folder = tmp_path_factory.mktemp("wrapped") / "solver"
    train_lora_adapter(tiny_model_dir, examples, folder, role="solver", config=FAST)
    return folder


@pytest.fixture(scope="module")
def local_pool(tiny_model_dir):
    from moot.nodes import LocalEngine

    return LocalModelPool(LocalEngine.from_pretrained(tiny_model_dir, dtype="float32"))


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=str)
def test_a_wrapped_pool_loads_publishes_pins_and_gates_through_its_inner_pool(wrapper, local_pool, adapter_dir, tmp_path):
    for version in [v for v in local_pool.engine.adapters]:  # each case starts from the base model
        local_pool.serve("solver", None)
        local_pool.unload(version)
    wrapped = WRAPPERS[wrapper](local_pool, ExperienceLibrary(tmp_path / "library"))

    loaded = wrapped.load("solver", adapter_dir)
    assert loaded in local_pool.engine.adapters and wrapped.registry.current("solver") is None
    # A gate scores the base and the candidate side by side through pinned views of the wrapper.
    reply = TrafficGate([ExperienceRecord("r", "apple", QUESTION, {"episode": "e", "role": "solver"})],
                        [Feedback("e", 1.0)], 1.0, "solver")
    base_view, candidate_view = wrapped.pinned({"solver": None}), wrapped.pinned({"solver": loaded})
    assert type(candidate_view) is type(wrapped) and candidate_view.registry.current("solver") == loaded
    base_score, candidate_score = reply.score([base_view, candidate_view])
    assert candidate_score[0] > base_score[0]  # trained towards "apple": the candidate finds it likelier
    assert wrapped.registry.current("solver") is None  # pinning moved no pointer

    wrapped.promote("solver", loaded)
    assert local_pool.registry.current("solver") == loaded  # a swap through the wrapper is the pool's
    published = wrapped.publish("solver", adapter_dir)
    assert local_pool.registry.current("solver") == published != loaded
    assert wrapped.rollback("solver") == loaded and local_pool.registry.current("solver") == loaded


def echo_pool() -> SharedModelPool:
    """A pool whose model replies with the messages it was given, one per line."""
    echo = RunnableLambda(lambda messages: "\n".join(f"{m.type}: {m.content}" for m in messages))
    return SharedModelPool(FakeListChatModel(responses=["unused"]), per_role={"solver": echo})  # type: ignore[dict-item]


def test_a_pinned_view_keeps_the_system_prompt():
    wrapped = PromptedPool(echo_pool(), {"solver": "Reply with one word."})
    seen = wrapped.pinned({"solver": None}).model("solver").invoke([("system", "old"), ("user", "2 + 2?")])
    assert seen == "system: Reply with one word.\nhuman: 2 + 2?"


def test_a_pinned_view_keeps_the_few_shot_memory(tmp_path):
    library = ExperienceLibrary(tmp_path / "library")
    library.add([ExperienceRecord("r1", "4", [{"role": "user", "content": "What is 1 + 3?"}],
                                  {"episode": "e1", "role": "solver", "reward": 1.0})])
    wrapped = RememberingPool(echo_pool(), library, FewShotConfig(k=1))
    seen = wrapped.pinned({"solver": None}).model("solver").invoke("What is 2 + 2?")
    assert seen == "human: What is 1 + 3?\nai: 4\nhuman: What is 2 + 2?"
