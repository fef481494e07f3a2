"""Role prompts as parameters: a pool whose roles answer under system prompts given as data.

The protocols' nodes stay as they are; :class:`PromptedPool` puts each role's current
system prompt in front of its calls (replacing a system message the node wrote), so any
protocol's prompts can be searched, versioned and gated like adapters.
"""

from __future__ import annotations

from typing import Any, Mapping

from langchain_core.messages import BaseMessage, SystemMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableLambda

from .serving.model_pool import ModelPool, PoolWrapper


def with_system_prompt(messages: Any, prompt: str) -> list[BaseMessage]:
    """``messages`` with ``prompt`` as their one system message.

    Examples:
        >>> [m.content for m in with_system_prompt([("system", "old"), ("user", "2 + 2?")], "Answer with a number.")]
        ['Answer with a number.', '2 + 2?']
    """
    turns = [m for m in convert_to_messages(messages) if not isinstance(m, SystemMessage)]
    return [SystemMessage(prompt), *turns]


class PromptedPool(PoolWrapper):
    """``pool``, with each role in ``prompts`` answering under that system prompt.

    Examples:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> pool = PromptedPool(SharedModelPool(FakeListChatModel(responses=["4"])), {"solver": "Be brief."})
        >>> pool.model("solver").invoke("2 + 2?").content
        '4'
    """

    def __init__(self, pool: ModelPool, prompts: Mapping[str, str]) -> None:
        super().__init__(pool)
        self.prompts = dict(prompts)

    def wrap(self, role: str, model: Runnable) -> Runnable:
        prompt = self.prompts.get(role)
        if not prompt:
            return model
        return RunnableLambda(lambda messages: with_system_prompt(messages, prompt)) | model
