"""The reader thread's hand-off (`rescore.pipelined`)."""

from __future__ import annotations

import threading
import time

import pytest

from healthscore.jobs import rescore


def test_items_arrive_in_order() -> None:
    assert list(rescore.pipelined(range(50))) == list(range(50))
    assert list(rescore.pipelined(range(5), enabled=False)) == list(range(5))


def test_a_producer_error_reaches_the_consumer() -> None:
    def items():
        yield 1
        raise ValueError("unreadable file")

    consumed = []
    with pytest.raises(ValueError, match="unreadable file"):
        consumed.extend(rescore.pipelined(items()))
    assert consumed == [1]


@pytest.mark.parametrize("extra", [0, 1, 2])
def test_a_consumer_that_stops_early_is_not_kept_waiting(extra: int) -> None:
    """The consumer stops (an error while writing, say) when the producer has read everything
    and the queue is full: closing must not wait forever for the producer's last hand-off."""
    closed = threading.Event()

    def consume() -> None:
        ready = rescore.pipelined(range(rescore._QUEUE_DEPTH + extra))
        next(ready)
        time.sleep(0.3)  # the producer fills the queue and reaches its end-of-items hand-off
        ready.close()
        closed.set()

    threading.Thread(target=consume, daemon=True).start()
    assert closed.wait(timeout=10), "closing the pipeline hung"
