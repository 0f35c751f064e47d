"""The engine as a process citizen: GIL release, fork safety, panics, build metadata."""

from __future__ import annotations

import datetime as dt
import os
import threading

import pyarrow as pa
import pytest

from benchmarks.workload import Workload, build_batch, build_request_columns, build_ruleset
from healthscore import engine
from healthscore.errors import (
    CancelledError,
    DeadlineExceededError,
    EngineError,
    MalformedInputError,
)

AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def workload() -> tuple[engine.CompiledRuleset, pa.RecordBatch]:
    w = Workload()
    return engine.compile_ruleset(build_ruleset(w)), build_batch(w, 200_000)


def test_build_metadata_is_exported() -> None:
    assert engine.CORE_VERSION == "0.1.0"
    assert engine.BUILD_PROFILE in {"debug", "release"}


def test_scoring_releases_the_gil(workload: tuple[engine.CompiledRuleset, pa.RecordBatch]) -> None:
    compiled, batch = workload
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        before = ticks
        # Several calls, so the scoring time dwarfs the interpreter's switch interval.
        for _ in range(5):
            compiled.score_arrow(batch, as_of=AS_OF, threads=1)
        during = ticks - before
    finally:
        done.set()
        counter.join()
    # With the GIL held for the whole Rust call, the counter could only run between calls.
    assert during > 10_000


def test_scoring_works_in_a_forked_child(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    compiled, batch = workload
    parent = compiled.score_arrow(batch, as_of=AS_OF, threads=2)  # builds the thread pool
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the parent's pool threads do not exist here
        try:
            child = compiled.score_arrow(batch, as_of=AS_OF, threads=2)
            same = child.column("score").equals(parent.column("score"))
            os.write(write_end, b"same" if same else b"diff")
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read_end, 16)
    os.close(read_end)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == b"same"


def test_results_do_not_depend_on_the_thread_count(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    compiled, batch = workload
    one = compiled.score_arrow(batch, as_of=AS_OF, threads=1)
    two = compiled.score_arrow(batch, as_of=AS_OF, threads=2)
    assert one.equals(two)


def test_a_rust_panic_surfaces_as_an_engine_error() -> None:
    with pytest.raises(EngineError, match="deliberate test panic"):
        engine._call(engine._core._panic_for_test)


def test_a_batch_without_ids_is_refused(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    compiled, _ = workload
    no_id = pa.RecordBatch.from_pydict({"m00": pa.array([1.0])})
    with pytest.raises(MalformedInputError, match="id"):
        compiled.score_arrow(no_id, as_of=AS_OF)


def test_as_of_must_be_timezone_aware(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    compiled, batch = workload
    with pytest.raises(ValueError, match="timezone"):
        compiled.score_arrow(batch, as_of=dt.datetime(2026, 11, 1))


def test_cancel_tokens_stop_scoring(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    compiled, batch = workload
    request = build_request_columns(batch.slice(0, 50_000)).SerializeToString()
    expected = compiled.score_bytes(request)
    assert compiled.score_bytes(request, engine.CancelToken(timeout=3600)) == expected
    cancelled = engine.CancelToken()
    cancelled.cancel()
    with pytest.raises(CancelledError):
        compiled.score_bytes(request, cancelled)
    with pytest.raises(DeadlineExceededError):
        compiled.score_bytes(request, engine.CancelToken(timeout=0))


def test_a_cancel_from_another_thread_stops_a_long_call(
    workload: tuple[engine.CompiledRuleset, pa.RecordBatch],
) -> None:
    """The core checks the token between chunks: a call over many chunks stops early."""
    compiled, batch = workload
    request = build_request_columns(batch).SerializeToString()
    token = engine.CancelToken()
    started = threading.Event()
    outcome: list[BaseException | bytes] = []

    def call() -> None:
        started.set()
        try:
            for _ in range(50):  # far longer than the cancel below takes to arrive
                outcome.append(compiled.score_bytes(request, token))
        except CancelledError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    started.wait()
    token.cancel()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert isinstance(outcome[-1], CancelledError)
    assert len(outcome) < 50
