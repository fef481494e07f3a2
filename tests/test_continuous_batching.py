"""Continuous batching: rows join and leave the running batch between decode steps."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from moot.nodes import LocalEngine, SamplingParams

QUESTIONS = [[{"role": "user", "content": text}] for text in
             ("What is 2 + 2?", "Name a colour.", "Count to three, please, slowly and carefully.", "Hi")]


@pytest.fixture
def engines(tiny_model_dir_each_seed):
    """The same weights under both schedulers (float32: a row's arithmetic does not depend on its neighbours;
    no float16 copies, which only the continuous scheduler's decode steps would use)."""
    continuous = LocalEngine.from_pretrained(tiny_model_dir_each_seed, dtype="float32", half_weights=False)
    return continuous, LocalEngine(continuous.model, continuous.tokenizer, scheduler="static")


def test_greedy_outputs_match_one_by_one_generation(engines):
    continuous, static = engines
    params = SamplingParams(max_new_tokens=8)
    together = continuous.generate(QUESTIONS, params)
    alone = [static.generate([q], params)[0] for q in QUESTIONS]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [(c.prompt_tokens, c.completion_tokens) for c in together] == [(c.prompt_tokens, c.completion_tokens) for c in alone]


def test_rows_of_different_lengths_leave_as_they_finish(engines):
    continuous, _ = engines
    futures = [continuous.submit(q, None, SamplingParams(max_new_tokens=n)) for q, n in zip(QUESTIONS, (2, 9, 5, 1))]
    lengths = [f.result(timeout=60).completion_tokens for f in futures]
    assert all(0 < length <= n for length, n in zip(lengths, (2, 9, 5, 1)))


def test_a_request_arriving_mid_batch_is_served_before_the_batch_ends(engines):
    continuous, _ = engines
    finished: list[str] = []
    long = continuous.submit(QUESTIONS[2], None, SamplingParams(max_new_tokens=96))
    long.add_done_callback(lambda _: finished.append("long"))
    deadline = time.monotonic() + 30
    while continuous.generate_calls == 0 and time.monotonic() < deadline:  # the long row is decoding
        time.sleep(0.01)
    short = continuous.submit(QUESTIONS[0], None, SamplingParams(max_new_tokens=2))
    short.add_done_callback(lambda _: finished.append("short"))
    assert long.result(timeout=120).completion_tokens == 96, "the long row must still be running when the short one joins"
    short.result(timeout=60)
    assert finished == ["short", "long"]


def test_a_seed_makes_a_sampled_row_independent_of_its_neighbours(engines):
    continuous, _ = engines
    seeded = SamplingParams(temperature=1.0, max_new_tokens=8, seed=7)
    alone = continuous.generate([QUESTIONS[1]], seeded)[0].text
    others = [continuous.submit(q, None, SamplingParams(temperature=1.0, max_new_tokens=8)) for q in QUESTIONS]
    mixed = continuous.submit(QUESTIONS[1], None, seeded)
    assert mixed.result(timeout=60).text == alone
    assert all(f.result(timeout=60) for f in others)


def test_a_failing_request_fails_alone(engines):
    continuous, _ = engines
    with pytest.raises(KeyError, match="not loaded"):
        continuous.generate([QUESTIONS[0]], adapters=["ghost"])
    assert continuous.generate([QUESTIONS[0]], SamplingParams(max_new_tokens=2))[0].completion_tokens > 0


def test_many_threads_share_one_running_batch(engines):
    continuous, _ = engines
    results: list[str] = []
    workers = [threading.Thread(target=lambda q=q: results.append(
        continuous.generate([q], SamplingParams(max_new_tokens=4))[0].text)) for q in QUESTIONS * 3]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert len(results) == 12
    assert continuous.generate_calls < 12  # requests were admitted together, not one prefill each


def test_close_serves_what_was_queued_then_stops_the_worker(engines):
    continuous, _ = engines
    futures = [continuous.submit(q, None, SamplingParams(max_new_tokens=3)) for q in QUESTIONS]
    worker = continuous._worker
    continuous.close()
    assert all(f.result(timeout=1).completion_tokens > 0 for f in futures)
    assert worker is not None and not worker.is_alive()
    assert continuous.generate([QUESTIONS[0]], SamplingParams(max_new_tokens=2))  # a new request starts a new worker


def test_a_stop_string_ends_decoding_where_it_appears(engines):
    continuous, static = engines
    (full,) = continuous.generate(QUESTIONS[:1], SamplingParams(max_new_tokens=24))
    assert full.completion_tokens == 24 and len(full.text) > 12
    stop = full.text[len(full.text) // 2:][:3]  # a string first seen past the middle of the reply
    before = full.text[:full.text.find(stop)].strip()
    for engine in (continuous, static):
        (cut,) = engine.generate(QUESTIONS[:1], SamplingParams(max_new_tokens=24, stop=(stop,)))
        assert cut.text == before
    # The continuous scheduler stopped decoding there: the tokens after the stop were never made.
    (cut,) = continuous.generate(QUESTIONS[:1], SamplingParams(max_new_tokens=24, stop=(stop,)))
    assert cut.completion_tokens < full.completion_tokens


def test_an_idle_worker_ends_and_frees_an_engine_nobody_holds(tiny_model_dir, monkeypatch):
    from moot.nodes.serving import local_engine

    monkeypatch.setattr(local_engine, "WORKER_IDLE_EXIT_S", 0.2)
    engine = LocalEngine.from_pretrained(tiny_model_dir, dtype="float32")
    params = SamplingParams(max_new_tokens=2)
    engine.generate(QUESTIONS[:1], params)
    first = engine._worker
    time.sleep(1.0)
    assert not first.is_alive() and engine._worker is None  # idle: its thread ended
    assert engine.generate(QUESTIONS[:2], params)[1].completion_tokens > 0  # the next request starts another
    freed = weakref.ref(engine)
    del engine
    deadline = time.monotonic() + 10
    while freed() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
        gc.collect()
    assert freed() is None
