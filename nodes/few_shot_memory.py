"""Experience as few-shot memory: a role's most similar successful past calls, put in its prompt.

The experience library is training data, and also data to reuse at inference time:
retrieving one's own successful trajectories as in-context examples (self-generated
in-context examples, AWM, Memento) is reported to help a lot, with no training at all.
:class:`FewShotMemory` wraps a chat model: before each call it finds the ``k`` past calls of
the same role whose input is nearest to this one and whose reward passed, and shows them
as earlier user/assistant turns.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableLambda

from moot.stores import ExperienceLibrary

from moot.stores.experience_library import input_text

from .few_shot_config import FewShotConfig
from .serving.model_pool import ModelPool, PoolWrapper


class FewShotMemory:
    """Puts a role's most similar successful past calls into each prompt.

    Args:
        library: Where past calls are.
        role: Whose calls are shown (only the same role's).
        config: How many, how good, how chosen.
        where: Further metadata conditions, e.g. ``{"run": run_id, "split": "train"}`` so
            that held-out episodes are never shown.

    Examples:
        >>> import tempfile
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.stores import ExperienceRecord
        >>> library = ExperienceLibrary(tempfile.mkdtemp())
        >>> library.add([ExperienceRecord("a", "13", [{"role": "user", "content": "7 + 6?"}],
        ...                               {"role": "solver", "reward": 1.0})])
        >>> memory = FewShotMemory(library, "solver", FewShotConfig(k=1))
        >>> [m.content for m in memory.examples("8 + 5?")]
        ['7 + 6?', '13']
        >>> model = memory.wrap(FakeListChatModel(responses=["13"]))
        >>> model.invoke("8 + 5?").content
        '13'
    """

    def __init__(self, library: ExperienceLibrary, role: str, config: FewShotConfig = FewShotConfig(),
                 where: dict[str, Any] | None = None) -> None:
        self.library, self.role, self.config, self.where = library, role, config, where or {}

    def examples(self, question: str) -> list[BaseMessage]:
        """The shown turns for ``question``: a user message and the reply, per example."""
        store = self.library.as_vectorstore()
        good = {"$gte": self.config.min_reward}
        where = {"$and": [{"role": {"$eq": self.role}}, {"$or": [{"reward": good}, {"episode_reward": good}]},
                          *({key: {"$eq": value}} for key, value in self.where.items())]}
        if self.config.search == "mmr":
            found = store.max_marginal_relevance_search(question, k=self.config.k, fetch_k=self.config.fetch_k,
                                                        filter=where)
        else:
            found = store.similarity_search(question, k=self.config.k, filter=where)
        turns: list[BaseMessage] = []
        for document in found:
            if document.page_content.strip() == question.strip():
                continue  # the same question answered before is not an example of how to answer it
            turns += [HumanMessage(document.page_content), AIMessage(str(document.metadata.get("reply", "")))]
        return turns

    def _with_examples(self, value: Any) -> list[BaseMessage]:
        messages = [HumanMessage(value)] if isinstance(value, str) else convert_to_messages(value)
        question = input_text([{"role": "user" if m.type == "human" else m.type, "content": str(m.content)}
                               for m in messages])
        system = [m for m in messages if m.type == "system"]
        rest = [m for m in messages if m.type != "system"]
        return [*system, *self.examples(question), *rest]

    def wrap(self, model: Runnable) -> Runnable:
        """``model`` with the examples put before each prompt's conversation (after any system message)."""
        return RunnableLambda(self._with_examples, name=f"few_shot_memory[{self.role}]") | model


class RememberingPool(PoolWrapper):
    """A pool whose every role's model shows the role's few-shot memory (same backend, same adapters).

    Examples:
        >>> import tempfile
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from moot.nodes import SharedModelPool
        >>> pool = RememberingPool(SharedModelPool(FakeListChatModel(responses=["4"])),
        ...                        ExperienceLibrary(tempfile.mkdtemp()), FewShotConfig(k=2))
        >>> pool.model("solver").invoke("2 + 2?").content
        '4'
    """

    def __init__(self, pool: ModelPool, library: ExperienceLibrary, config: FewShotConfig = FewShotConfig(),
                 where: dict[str, Any] | None = None) -> None:
        super().__init__(pool)
        self.library, self.config, self.where = library, config, where

    def wrap(self, role: str, model: Runnable) -> Runnable:
        return FewShotMemory(self.library, role, self.config, self.where).wrap(model)
