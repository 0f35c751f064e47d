"""What one caller may make the server hold, and where each call runs.

- **Caps per caller.** At most `calls_per_caller` calls (queued or running, streams included) and
  `streams_per_caller` streaming calls at once per authenticated caller (with authentication
  off every caller is `local`); past a cap the call ends RESOURCE_EXHAUSTED at once, before its
  request is read. Public streams (health `Watch`, reflection) share one small cap,
  `PUBLIC_STREAMS`, whoever opens them.
- **Lanes.** Handler threads are two pools: the main one (`--threads`) for the services' calls,
  and a small control lane for health, reflection and refusals, so that a probe is answered, and
  a caller over its cap is told so, while every main thread is busy (a grpcio per-behaviour
  thread pool: `experimental_thread_pool` on the handler's behaviour).
- **Idle requests.** A call waiting longer than `stream_idle_seconds` for its next request
  message (a stream's next batch, or a unary call's one message that never finishes arriving)
  is cancelled, which frees its thread.

A slot is taken when gRPC hands the call to the interceptor (its metadata has arrived, its
message not yet read) and given back when the handler ends; every admitted call is handed to
gRPC as a request-streaming one, so that its handler runs (and frees the slot) even when the
caller gave up while the call waited for a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import structlog

log = structlog.get_logger("healthscore.server")

# Health `Watch` and reflection streams open at once, all callers together.
PUBLIC_STREAMS = 4
# The control lane: public streams, plus threads for health checks and refusals.
CONTROL_THREADS = PUBLIC_STREAMS + 4

_T = TypeVar("_T")


@dataclass(frozen=True)
class Limits:
    calls_per_caller: int = 64
    streams_per_caller: int = 8
    stream_idle_seconds: float = 120.0


class Slot:
    """A call's place under its caller's caps; `release` is idempotent."""

    def __init__(self, admission: Admission, keys: tuple[tuple[str, str], ...]) -> None:
        self._admission = admission
        self._keys = keys
        self._released = False

    def release(self) -> None:
        with self._admission.lock:
            if self._released:
                return
            self._released = True
            for key in self._keys:
                self._admission.held[key] -= 1
                if not self._admission.held[key]:
                    del self._admission.held[key]


class Admission:
    """Counts each caller's calls and streams in flight."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.lock = threading.Lock()
        self.held: dict[tuple[str, str], int] = {}

    def admit(self, caller: str, streaming: bool, public: bool) -> Slot | str:
        """A slot for a call of `caller`'s, or why it is refused."""
        caps: list[tuple[tuple[str, str], int, str]]
        if public:
            if not streaming:
                return Slot(self, ())
            caps = [(("public", "streams"), PUBLIC_STREAMS, "health and reflection streams")]
        else:
            caps = [
                (
                    (caller, "calls"),
                    self.limits.calls_per_caller,
                    "calls (--max-calls-per-caller)",
                )
            ]
            if streaming:
                caps.append(
                    (
                        (caller, "streams"),
                        self.limits.streams_per_caller,
                        "streams (--max-streams-per-caller)",
                    )
                )
        with self.lock:
            for key, cap, what in caps:
                if self.held.get(key, 0) >= cap:
                    whose = "all callers together" if public else f"caller {caller!r}"
                    return f"{whose} already has {cap} {what} in flight, the most allowed"
            for key, _, _ in caps:
                self.held[key] = self.held.get(key, 0) + 1
        return Slot(self, tuple(key for key, _, _ in caps))


class IdleWatch:
    """Cancels calls that wait too long for their next request message. One thread for all the
    calls, started with the first; it checks the waiting calls a few times per timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[float, grpc.ServicerContext, str]] = {}
        self._thread: threading.Thread | None = None
        self._tick = min(1.0, seconds / 4)

    def requests(
        self, requests: Iterator[_T], context: grpc.ServicerContext, method: str
    ) -> Iterator[_T]:
        """`requests`, with the call cancelled if the next one takes longer than `seconds`."""
        key = id(context)
        while True:
            with self._lock:
                self._waiting[key] = (time.monotonic() + self.seconds, context, method)
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="rpc-idle-watch", daemon=True
                    )
                    self._thread.start()
            try:
                request = next(requests)
            except StopIteration:
                return
            finally:
                with self._lock:
                    self._waiting.pop(key, None)
            yield request

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                expired = [
                    (key, context, method)
                    for key, (deadline, context, method) in self._waiting.items()
                    if deadline <= now
                ]
                for key, _, _ in expired:
                    del self._waiting[key]
            for _, context, method in expired:
                log.warning("request_idle_timeout", method=method, idle_seconds=self.seconds)
                _cancel(context, f"no request message for {self.seconds:g} s: call cancelled")


def _cancel(context: grpc.ServicerContext, details: str) -> None:
    """Ends the call CANCELLED with `details` (grpcio's public `cancel` sends no details; its
    call object can), from any thread."""
    call: Any = getattr(getattr(context, "_rpc_event", None), "call", None)
    try:
        from grpc._cython import cygrpc  # type: ignore[attr-defined]

        call.cancel(cygrpc.StatusCode.cancelled, details)
    except Exception:  # another grpcio: the public way, without details
        context.cancel()  # type: ignore[no-untyped-call]


def control_lane(threads: int = CONTROL_THREADS) -> futures.ThreadPoolExecutor:
    return futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rpc-control")


# Attributes of a handler's behaviour that wrappers carry over (`carry_marks`).
_LANE = "experimental_thread_pool"  # grpcio runs the behaviour on this pool
_SINGLE_REQUEST = "healthscore_single_request"
_MARKS = (_LANE, _SINGLE_REQUEST)


def in_lane(behaviour: Callable[..., Any], lane: futures.ThreadPoolExecutor | None) -> None:
    """Makes grpcio run `behaviour` on `lane` instead of the server's pool (None: the pool)."""
    if lane is not None:
        setattr(behaviour, _LANE, lane)


def mark_single_request(behaviour: Callable[..., Any]) -> None:
    """`behaviour` takes a request stream but reads one message: a unary call to its caller."""
    setattr(behaviour, _SINGLE_REQUEST, True)


def single_request(behaviour: Callable[..., Any] | None) -> bool:
    return bool(getattr(behaviour, _SINGLE_REQUEST, False))


def carry_marks(outer: Callable[..., Any], inner: Callable[..., Any]) -> None:
    """`outer`, which wraps `inner`, runs where `inner` would and reads what it reads."""
    for mark in _MARKS:
        if hasattr(inner, mark):
            setattr(outer, mark, getattr(inner, mark))
