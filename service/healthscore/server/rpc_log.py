"""Structured logs: structlog writing JSON lines to stderr, and the interceptor that writes one line
per RPC (method, caller, status, duration, and what the handler noted with `context.note`).

Also home of `around_handler`, the one way our interceptors wrap a handler: every piece of the
handler's work (the call, and for streaming responses each step of the response iterator) runs
inside the interceptor's scope, in a copy of the context so that context variables set there
(caller identity, notes) follow the handler and never leak into the next call on the thread.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, TextIO, cast

import grpc
import structlog

from healthscore.server.context import collecting_notes
from healthscore.server.limits import carry_marks, single_request
from healthscore.server.status import to_status

log = structlog.get_logger("healthscore.server")

_configured = False
# Fields every line of this process carries (a worker's index and pid under `serve --workers`).
_process_fields: dict[str, Any] = {}


def tag_process(**fields: Any) -> None:
    """Adds `fields` to every later log line of this process."""
    _process_fields.update(fields)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr, one object per event, with an ISO timestamp and the level. Idempotent:
    the first call configures, later ones do nothing."""
    global _configured
    if _configured:
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_process_fields,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _event_first,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Resolved at each write, so that a test's or a caller's replaced sys.stderr is honoured.
        # One write per line (`print` makes two): workers share stderr, and a line written at
        # once is not interleaved with another process's.
        logger_factory=structlog.WriteLoggerFactory(file=cast(TextIO, _StderrProxy())),
        cache_logger_on_first_use=False,
    )
    _configured = True


def _add_process_fields(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in _process_fields.items():
        event.setdefault(key, value)
    return event


def _event_first(logger: Any, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    # Lines read `{"timestamp": .., "level": .., "event": "rpc", ...}`: the what before the details.
    line: dict[str, Any] = {}
    for key in ("timestamp", "level", "event"):
        if key in event:
            line[key] = event.pop(key)
    line.update(event)
    return line


class _StderrProxy:
    """The current `sys.stderr`, which never raises: logging must never fail a call. A line that
    cannot be written (disk full, a closed pipe) is dropped and counted; the count is written,
    as a `log_lines_dropped` warning, before the next line that can be. structlog's logger holds
    a lock around each write and flush, so the count needs none of its own."""

    def __init__(self) -> None:
        self.dropped = 0
        self._written = False  # the last line was written, and is yet to be flushed

    def write(self, text: str) -> int:
        self._written = False
        try:
            if self.dropped:
                sys.stderr.write(_dropped_line(self.dropped))
                self.dropped = 0
            written = sys.stderr.write(text)
        except (OSError, ValueError):  # ValueError: the stream is closed
            self.dropped += 1
            return 0
        self._written = True
        return written

    def flush(self) -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            # The line written is (at least partly) lost; a buffered stream may write it later.
            if self._written:
                self.dropped += 1
        self._written = False


def _dropped_line(count: int) -> str:
    line = {
        "timestamp": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "level": "warning",
        "event": "log_lines_dropped",
        "count": count,
        "reason": "the log could not be written",
        **_process_fields,
    }
    return json.dumps(line) + "\n"


# A scope is entered around all of one call's work; it gets the call's context.
Scope = Callable[[grpc.ServicerContext], contextlib.AbstractContextManager[None]]

# gRPC's handler constructors by (request streaming, response streaming).
_BUILDERS: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler[Any, Any]]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def behaviour(handler: grpc.RpcMethodHandler[Any, Any]) -> Callable[..., Any]:
    """The function that handles `handler`'s calls, whatever their shape."""
    found = (
        handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
    )
    assert found is not None
    return found


def method_handler(
    function: Callable[..., Any],
    request_streaming: bool,
    response_streaming: bool,
    request_deserializer: Callable[[bytes], Any] | None = None,
    response_serializer: Callable[[Any], bytes] | None = None,
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the given shape whose calls `function` handles: what an interceptor returns
    for a handler it wraps."""
    build = _BUILDERS[request_streaming, response_streaming]
    return build(function, request_deserializer, response_serializer)


def around_handler(
    handler: grpc.RpcMethodHandler[Any, Any], scope: Scope
) -> grpc.RpcMethodHandler[Any, Any]:
    """`handler` with each call's work run inside `scope(context)` (all four call shapes)."""
    inner = behaviour(handler)
    wrapped: Callable[[Any, grpc.ServicerContext], Any]
    if handler.response_streaming:

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            return _stream_in_scope(inner, request, context, scope)

        wrapped = streaming
    else:

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            with scope(context):
                return inner(request, context)

        wrapped = unary
    carry_marks(wrapped, inner)
    return method_handler(
        wrapped,
        handler.request_streaming,
        handler.response_streaming,
        handler.request_deserializer,
        handler.response_serializer,
    )


def _stream_in_scope(
    behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
    request: Any,
    context: grpc.ServicerContext,
    scope: Scope,
) -> Iterator[Any]:
    # gRPC pulls the responses one at a time, and may drop the iterator half-way (a cancelled
    # call): each step runs in `ctx`, and the scope is left when the iterator ends or is closed.
    ctx = contextvars.copy_context()
    stack = contextlib.ExitStack()
    ctx.run(stack.enter_context, scope(context))
    try:
        responses = ctx.run(behaviour, request, context)
    except BaseException:
        if not ctx.run(stack.__exit__, *sys.exc_info()):
            raise
        return iter(())
    return _steps(ctx, responses, stack)


def _steps(
    ctx: contextvars.Context, responses: Iterator[Any], stack: contextlib.ExitStack
) -> Iterator[Any]:
    try:
        while True:
            try:
                response = ctx.run(next, responses)
            except StopIteration:
                break
            yield response
    except BaseException:
        if not ctx.run(stack.__exit__, *sys.exc_info()):
            raise
    else:
        ctx.run(stack.__exit__, None, None, None)


def _code(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The code the handler set or aborted with (the stubs omit `ServicerContext.code`)."""
    code: grpc.StatusCode | None = getattr(context, "code", lambda: None)()
    return code


class LoggingInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """One JSON line per RPC, written when the call ends: `event="rpc"`, `method`, `caller`,
    `code` (status code name), `duration_ms`, then the handler's notes. The outermost interceptor,
    so that calls refused by authentication are logged too. An exception no servicer turned into
    a status ends the call through `to_status` (INTERNAL, no stack trace to the caller)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        # A unary call read as a one-message stream (`limits`) is unary to its caller.
        request_streaming = handler.request_streaming and not single_request(behaviour(handler))

        @contextlib.contextmanager
        def logged(context: grpc.ServicerContext) -> Iterator[None]:
            start = time.perf_counter()
            code: str = "OK"
            # A cancelled request stream can look, to the handler, like the caller's normal end
            # of requests: the cancellation is known only when the call ends. Such lines are
            # written then.
            at_end = False
            with collecting_notes() as notes:
                try:
                    yield
                except GeneratorExit:
                    # gRPC dropped the response iterator: the call was cancelled or timed out.
                    code = _ended_early(context)
                    raise
                except BaseException as exc:
                    set_code = _code(context)
                    if not context.is_active():
                        # The call ended under the handler (e.g. its request stream raised):
                        # whatever the handler made of it, its caller got CANCELLED or
                        # DEADLINE_EXCEEDED.
                        code = _ended_early(context)
                        raise
                    if set_code is None:
                        # Not an abort: a bug. `to_status` logs it and hides it from the caller.
                        status = to_status(exc)
                        code = status.code.name
                        context.abort_with_status(status)
                    code = set_code.name
                    raise
                else:
                    set_code = _code(context)
                    if set_code is not None:
                        code = set_code.name
                    elif not context.is_active():
                        code = _ended_early(context)
                    else:
                        at_end = request_streaming
                finally:
                    line: dict[str, Any] = {
                        "method": method,
                        "caller": notes.get("caller"),
                        "code": code,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                    }
                    # A note never overwrites the fields above (nor structlog's `event`).
                    line.update((k, v) for k, v in notes.items() if k not in line and k != "event")

                    def write_at_end() -> None:
                        if _cancelled(context):
                            line["code"] = _ended_early(context)
                        log.info("rpc", **line)

                    if not (at_end and context.add_callback(write_at_end)):
                        log.info("rpc", **line)

        return around_handler(handler, logged)


def _cancelled(context: grpc.ServicerContext) -> bool:
    # grpcio's server context records a cancelled call in its state (no public accessor); an
    # unknown context is taken as not cancelled.
    state = getattr(context, "_state", None)
    return getattr(state, "client", None) == "cancelled"


def _ended_early(context: grpc.ServicerContext) -> str:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED.name
    return grpc.StatusCode.CANCELLED.name
