"""Token streaming and tracing parameters of the local chat model, on the tiny in-process model."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.callbacks import BaseCallbackHandler

from moot.nodes import LocalChatModel, LocalEngine

QUESTIONS = ["What is 2 + 2?", "Name a colour.", "Say something long."]


@pytest.fixture(scope="module")
def engine(tiny_model_dir_each_seed) -> LocalEngine:
    return LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype="float32")


def model(engine: LocalEngine) -> LocalChatModel:
    # min_new_tokens is not a setting; a long budget on a random model reliably gives several tokens
    return LocalChatModel(engine=engine, max_tokens=12)


class Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs) -> None:
        self.tokens.append(token)


def test_stream_yields_the_reply_token_by_token_and_adds_up_to_invoke(engine):
    chat = model(engine)
    whole = chat.invoke(QUESTIONS[0])
    counter = Tokens()
    chunks = list(chat.stream(QUESTIONS[0], config={"callbacks": [counter]}))
    assert len(chunks) >= 3  # token by token, not one piece
    assert "".join(c.content for c in chunks) == whole.content
    assert counter.tokens == [c.content for c in chunks]  # on_llm_new_token, as chat UIs read it
    last = chunks[-1]
    assert last.usage_metadata == whole.usage_metadata and last.usage_metadata["output_tokens"] <= 12
    assert last.response_metadata["model_name"] == engine.name


def test_concurrent_streams_each_get_their_own_row(engine):
    chat = model(engine)
    alone = [chat.invoke(q).content for q in QUESTIONS]

    def streamed(question: str) -> str:
        return "".join(c.content for c in chat.stream(question))

    with ThreadPoolExecutor(len(QUESTIONS)) as workers:  # decoded together in one batch
        together = list(workers.map(streamed, QUESTIONS))
    assert together == alone


def test_astream_events_emit_chat_model_stream_events(engine):
    async def events() -> list[str]:
        return [e["data"]["chunk"].content async for e in model(engine).astream_events(QUESTIONS[1], version="v2")
                if e["event"] == "on_chat_model_stream"]

    contents = asyncio.run(events())
    assert len(contents) >= 3 and "".join(contents) == model(engine).invoke(QUESTIONS[1]).content


def test_tracing_names_moot_and_the_adapter_that_answers(engine):
    params = model(engine)._get_ls_params()
    assert params["ls_provider"] == "moot" and params["ls_model_name"] == engine.name
    pinned = LocalChatModel(engine=engine, adapter="support_v2")
    assert pinned._get_ls_params()["ls_model_name"] == f"{engine.name}:support_v2"
