"""LangChain's own standard tests (``langchain-tests``) on moot's chat model and vector store.

The unit suite runs on the tiny model; the integration suite on the embedded SmolLM2, since
it checks what a real model does with tools, structured output and conversations. Skips are
the suite's own, for inputs the model cannot read (images, audio, PDF, video), for settings it
does not have (no API key or other environment to read, an in-process engine that cannot be
serialized; a vLLM role model follows an in-process registry, so it is not serialized either)
and for per-call model overrides (one engine serves one base model).
"""

from __future__ import annotations

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import ChatModelIntegrationTests, VectorStoreIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from moot.nodes import LocalChatModel, LocalEngine
from moot.nodes.serving.adapter_registry import AdapterRegistry
from moot.nodes.serving.vllm_pool import RoleChatOpenAI
from moot.stores import ExperienceLibrary


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir) -> LocalEngine:
    return LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")


@pytest.fixture(scope="module")
def embedded_engine() -> LocalEngine:
    return LocalEngine.from_pretrained()


class LocalChatModelSuite:
    """What both suites are told of moot's chat model; each sets ``self.engine`` from its fixture."""

    engine: LocalEngine

    @property
    def chat_model_class(self) -> type[LocalChatModel]:
        return LocalChatModel

    @property
    def chat_model_params(self) -> dict:
        return {"engine": self.engine}

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestLocalChatModelUnit(LocalChatModelSuite, ChatModelUnitTests):
    @pytest.fixture(autouse=True)
    def _engine(self, tiny_engine):
        self.engine = tiny_engine


class TestVLLMRoleModelUnit(ChatModelUnitTests):
    """The vLLM pool's role models (``ChatOpenAI`` following a role's version); no server needed."""

    @property
    def chat_model_class(self) -> type[RoleChatOpenAI]:
        return RoleChatOpenAI

    @property
    def chat_model_params(self) -> dict:
        return {"role": "solver", "registry": AdapterRegistry(), "base_model": "SmolLM2-135M-Instruct",
                "model": "SmolLM2-135M-Instruct", "base_url": "http://127.0.0.1:9/v1", "api_key": "EMPTY"}

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        return ({"OPENAI_API_KEY": "from-env", "OPENAI_API_BASE": "http://127.0.0.1:9/v1"},
                {"role": "solver", "registry": AdapterRegistry(), "base_model": "SmolLM2-135M-Instruct"},
                {"openai_api_base": "http://127.0.0.1:9/v1"})


@pytest.mark.real_model
class TestLocalChatModelIntegration(LocalChatModelSuite, ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _engine(self, embedded_engine):
        self.engine = embedded_engine

    @property
    def chat_model_params(self) -> dict:
        # The suite checks the interface, not prose: short free strings keep its jokes and tool
        # arguments to a few seconds each at one stream.
        return {**super().chat_model_params, "max_tokens": 48, "max_string_chars": 16}

    @property
    def has_tool_choice(self) -> bool:
        return True


class TestExperienceLibraryAsVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path):
        # The suite's own embeddings: it checks the store, not moot's embedding model.
        return ExperienceLibrary(tmp_path / "library").as_vectorstore(embedding=self.get_embeddings())

    @staticmethod
    def get_embeddings() -> DeterministicFakeEmbedding:
        return DeterministicFakeEmbedding(size=6)
