"""What one caller may make the server hold (`limits.py`): caps on calls and streams per caller,
health answered on its own lane while every handler thread is busy, idle request streams
cancelled, refusals decided before a request message is read, stalled handshakes dropped and
old connections closed."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.server.conftest import TOKENS, Running, bearer
from tests.server.fake_app import SCORE, STREAM_SCORE
from tests.server.test_interceptors import wait_for_lines

pytestmark = pytest.mark.timeout(60)

VIEWER = bearer(TOKENS["viewer"])
EDITOR = bearer(TOKENS["editor"])


class OpenStream:
    """A StreamScoreAccounts call whose requests the test sends one at a time."""

    def __init__(self, channel: grpc.Channel, metadata: Any) -> None:
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        self.call: Any = channel.stream_stream(STREAM_SCORE)(
            self._generate(), metadata=metadata, timeout=50
        )

    def _generate(self) -> Iterator[bytes]:
        while (request := self._requests.get()) is not None:
            yield request

    def put(self, request: bytes = b"batch") -> None:
        self._requests.put(request)

    def send(self, request: bytes = b"batch") -> bytes:
        self.put(request)
        response: bytes = next(self.call)
        return response

    def close(self) -> None:
        self._requests.put(None)
        self.call.cancel()


def health(channel: grpc.Channel) -> int:
    request = health_pb2.HealthCheckRequest()
    status: int = health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status
    return status


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    code: grpc.StatusCode = caught.value.code()
    return code


def test_idle_streams_of_one_caller_cannot_starve_health_or_exceed_the_cap(
    start: Callable[..., Running], tokens_file: Path
) -> None:
    # Sixteen idle streams of one viewer used to take every handler thread: health checks and
    # every other call timed out. Now the viewer gets its cap's worth (which here fills the
    # whole pool), the rest are refused at once, and health still answers.
    threads = 8
    running = start(tokens=tokens_file, threads=threads, max_streams_per_caller=threads)
    streams: list[OpenStream] = []
    refused: list[grpc.StatusCode] = []
    try:
        for _ in range(16):
            stream = OpenStream(running.channel, VIEWER)
            streams.append(stream)
            try:
                assert b"viewer" in stream.send()  # admitted: a thread now waits on it
            except grpc.RpcError as exc:
                refused.append(exc.code())
        assert refused == [grpc.StatusCode.RESOURCE_EXHAUSTED] * (16 - threads)
        # Every main thread waits on an idle stream: health runs on its own lane.
        assert health(running.channel) == health_pb2.HealthCheckResponse.SERVING
        # The viewer's next stream is refused at once, while another caller's is admitted (the
        # caps are per caller) and waits for a thread: it runs once a viewer's stream ends.
        assert code_of(lambda: OpenStream(running.channel, VIEWER).send()) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        editor = OpenStream(running.channel, EDITOR)
        streams.append(editor)
        editor.put()
        streams[0].close()
        assert b"editor" in next(editor.call)
    finally:
        for stream in streams:
            stream.close()


def test_calls_past_the_callers_cap_are_resource_exhausted_and_slots_come_back(
    start: Callable[..., Running], tokens_file: Path
) -> None:
    running = start(tokens=tokens_file, max_calls_per_caller=2)
    score = running.channel.unary_unary(SCORE)
    # Three at once (each runs 3 s once admitted): whichever arrives third is refused.
    calls = [score.future(b"slow:3", metadata=VIEWER, timeout=30) for _ in range(3)]
    assert b"editor" in score(b"", metadata=EDITOR, timeout=10)  # a cap per caller
    outcomes = []
    for call in calls:
        try:
            outcomes.append(b"viewer" in call.result())
        except grpc.RpcError as exc:
            outcomes.append(exc.code())
    assert sorted(map(str, outcomes)) == sorted(
        map(str, [True, True, grpc.StatusCode.RESOURCE_EXHAUSTED])
    )
    assert b"viewer" in score(b"", metadata=VIEWER, timeout=10)  # the slots were given back


def test_a_call_given_up_while_waiting_for_a_thread_gives_its_slot_back(
    start: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    running = start(threads=1, max_calls_per_caller=2)
    score = running.channel.unary_unary(SCORE)
    busy = score.future(b"slow:2", timeout=30)  # takes the one thread
    # Queued behind it (or, should it come first, too slow), and given up before it is done.
    assert code_of(lambda: score(b"slow:1", timeout=0.5)) == grpc.StatusCode.DEADLINE_EXCEEDED
    busy.result()
    # The given-up call's handler runs (and gives its slot back) once the thread is free, which
    # may be after the calls below are admitted: its log line, written after, is waited for.
    ended = wait_for_lines(capsys, 2)
    assert sorted(line["code"] == "OK" for line in ended) == [False, True], ended
    for _ in range(3):  # a leaked slot would leave room for one call, then none
        futures = [score.future(b"slow:0.2", timeout=30) for _ in range(2)]
        assert all(f.result() for f in futures)


def test_a_stream_idle_past_the_timeout_is_cancelled_and_frees_its_place(
    start: Callable[..., Running],
) -> None:
    # Long enough that each stream's first message, sent at once, surely arrives in time.
    running = start(stream_idle_seconds=2, max_streams_per_caller=1)
    stream = OpenStream(running.channel, ())
    assert stream.send()
    with pytest.raises(grpc.RpcError) as caught:
        next(stream.call)  # no request comes: the server ends the call
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    assert "no request message for 2 s" in (caught.value.details() or "")
    stream.close()
    again = OpenStream(running.channel, ())  # its place under the cap of 1 is free again
    assert again.send()
    again.close()


def test_a_unary_request_that_never_arrives_is_cancelled(start: Callable[..., Running]) -> None:
    # A caller that opens a call and never finishes sending its message holds a thread no
    # longer than the idle timeout.
    running = start(stream_idle_seconds=0.5)
    never = threading.Event()

    def no_message() -> Iterator[bytes]:
        never.wait(30)
        yield b""

    call = running.channel.stream_unary(SCORE)  # ScoreAccounts, its message never sent
    try:
        assert code_of(lambda: call(no_message(), timeout=20)) == grpc.StatusCode.CANCELLED
    finally:
        never.set()


def test_unauthenticated_calls_are_refused_before_their_message_is_read(
    start: Callable[..., Running], tokens_file: Path
) -> None:
    # Authentication used to run after gRPC had read (and buffered) the whole request: 60 MiB
    # requests without a token were read in full. Now a call without a valid token is refused
    # from its metadata: here its message is never even sent.
    running = start(tokens=tokens_file)
    never = threading.Event()

    def no_message() -> Iterator[bytes]:
        never.wait(30)
        yield b""

    call = running.channel.stream_unary(SCORE)
    try:
        for metadata in [(), bearer("hs_not-a-token")]:
            refused = code_of(lambda m=metadata: call(no_message(), metadata=m, timeout=20))
            assert refused == grpc.StatusCode.UNAUTHENTICATED
        # The same for a caller whose role may not make the call.
        publish = running.channel.stream_unary("/healthscore.v1.ProfileService/PublishDraft")
        assert code_of(lambda: publish(no_message(), metadata=VIEWER, timeout=20)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
    finally:
        never.set()


def test_a_connection_that_never_completes_its_handshake_is_dropped(
    start: Callable[..., Running],
) -> None:
    running = start(handshake_timeout_seconds=0.5)
    for opening in [b"", b"PRI * HTTP/2.0\r\n"]:  # nothing, or half the HTTP/2 preface
        with socket.create_connection(("127.0.0.1", running.port), timeout=15) as raw:
            raw.sendall(opening)
            assert _read_until_closed(raw), f"still open after sending {opening!r}"


def _read_until_closed(raw: socket.socket) -> bool:
    """Whether the server closes the connection before the socket's timeout (what the server
    sends first, its SETTINGS frame, is read and ignored)."""
    try:
        while raw.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_connections_are_closed_after_their_maximum_age(start: Callable[..., Running]) -> None:
    running = start(max_connection_age_seconds=0.5)
    states: list[grpc.ChannelConnectivity] = []
    running.channel.subscribe(states.append, try_to_connect=True)
    assert health(running.channel) == health_pb2.HealthCheckResponse.SERVING
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready = [i for i, s in enumerate(states) if s == grpc.ChannelConnectivity.READY]
        if ready and grpc.ChannelConnectivity.IDLE in states[ready[0] :]:
            break
        time.sleep(0.1)
    ready = [i for i, s in enumerate(states) if s == grpc.ChannelConnectivity.READY]
    assert ready and grpc.ChannelConnectivity.IDLE in states[ready[0] :], states
    running.channel.unsubscribe(states.append)
    assert health(running.channel) == health_pb2.HealthCheckResponse.SERVING  # reconnects
