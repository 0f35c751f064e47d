"""Request decoding and response encoding, done by us instead of by gRPC: `DecodingInterceptor`,
the innermost interceptor, registers every handler without a request deserializer or a response
serializer, parses the request bytes inside the call and serializes the responses there too.

Why: when a deserializer raises, grpcio (1.85) answers INTERNAL "Exception deserializing
request!", writes nothing we log, and then, once the client half-closes, aborts the call a second
time; that second status batch never completes, so the call's state, its C-core call and the
pending batch tag stay referenced forever (about 16 KiB a call; `benchmarks/bad_requests.py`).
Parsed here, bytes that are not the request message end the call as any other error does
(`status.to_status`: INVALID_ARGUMENT naming the request type) and the call is logged once.

A message that parses can still be malformed: a known field sent with the wrong wire type is
kept by protobuf as an unknown field, stored with the message (a draft, say) and refused later
by the core's decoder. `wire_type_violations` finds those, each with its field path. Field
numbers the schema does not declare (a newer client's) are dropped: nothing stored carries them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from healthscore.errors import MalformedInputError, ResponseTooLargeError, Violation
from healthscore.server.rpc_log import behaviour, method_handler

_T = TypeVar("_T")

_WIRE_TYPES = {
    0: "varint",
    1: "64-bit",
    2: "length-delimited",
    3: "start-group",
    4: "end-group",
    5: "32-bit",
}


_SCALAR_TYPES = {
    value: name[len("TYPE_") :].lower()
    for name, value in vars(FieldDescriptor).items()
    if name.startswith("TYPE_") and isinstance(value, int)
}


def wire_type_violations(message: Message, path: str = "") -> list[Violation]:
    """Every field of `message` (nested ones included) that came with a wire type its declared
    type cannot have, each with its path (e.g. `draft.profiles[0].name`). Field numbers the
    schema does not declare are not violations: a newer client may send them."""
    found: list[Violation] = []
    declared = message.DESCRIPTOR.fields_by_number
    unknowns = UnknownFieldSet(message)
    for unknown in (unknowns[i] for i in range(len(unknowns))):
        field = declared.get(unknown.field_number)
        if field is not None:
            wire = _WIRE_TYPES.get(unknown.wire_type, str(unknown.wire_type))
            found.append(
                Violation(
                    _join(path, field.name),
                    f"wrong wire type ({wire}) for a field of type {_type_name(field)}",
                )
            )
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        name = _join(path, field.name)
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    found += wire_type_violations(item, f"{name}[{key!r}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                found += wire_type_violations(item, f"{name}[{i}]")
        else:
            found += wire_type_violations(value, name)
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(field: Any) -> str:
    if field.message_type is not None:
        return str(field.message_type.full_name)
    if field.enum_type is not None:
        return str(field.enum_type.full_name)
    return _SCALAR_TYPES.get(field.type, "scalar")


def parse(deserializer: Callable[[bytes], _T], data: bytes, type_name: str) -> _T:
    """`deserializer(data)`, or `MalformedInputError` naming `type_name` when the bytes are not
    one (for the handlers that take the request's bytes, and `decoder`)."""
    try:
        return deserializer(data)
    except (DecodeError, ValueError, TypeError) as exc:
        raise MalformedInputError(
            f"the request is not a valid {type_name} ({len(data)} bytes): {exc}"
        ) from exc


def decoder(deserializer: Callable[[bytes], Any], method: str) -> Callable[[bytes], Any]:
    """`deserializer` made to fail with `MalformedInputError` naming the request type (a
    protobuf class's `FromString`; for another deserializer, the method) and to refuse fields of
    the wrong wire type."""
    kind = getattr(deserializer, "__self__", None)
    descriptor = getattr(kind, "DESCRIPTOR", None)
    type_name = descriptor.full_name if descriptor is not None else f"request of {method}"

    def decode(data: bytes) -> Any:
        request = parse(deserializer, data, type_name)
        if isinstance(request, Message):
            # Walking every field in Python costs ~6 us a message (44 ms for a draft of 1,000
            # profiles); dropping the unknown fields in C and sizing what is left costs about a
            # parse. Only when the sizes differ (unknown fields, or an encoder's unusual but valid
            # choices: unpacked repeated fields, explicit defaults) is the walk needed.
            request.DiscardUnknownFields()
            if request.ByteSize() != len(data):
                violations = wire_type_violations(deserializer(data))
                if violations:
                    raise MalformedInputError(f"malformed {type_name}", violations)
        return request

    return decode


def encoder(
    serializer: Callable[[Any], bytes] | None, max_bytes: int | None
) -> Callable[[Any], bytes]:
    """`serializer` (none: the response is bytes already) made to refuse, with
    `ResponseTooLargeError`, a response larger than `max_bytes`."""

    def encode(response: Any) -> bytes:
        data: bytes = response if serializer is None else serializer(response)
        if max_bytes is not None and len(data) > max_bytes:
            raise ResponseTooLargeError(
                f"the response is {len(data)} bytes, more than this server sends ({max_bytes} "
                "bytes, --max-message-bytes): ask for fewer accounts per call or a smaller view"
            )
        return data

    return encode


def _encoded(responses: Iterator[Any], encode: Callable[[Any], bytes]) -> Iterator[bytes]:
    try:
        for response in responses:
            yield encode(response)
    finally:
        close = getattr(responses, "close", None)
        if close is not None:  # gRPC dropped the stream, or a response was refused
            close()


class DecodingInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """The innermost interceptor: every handler gets raw bytes from gRPC and gives it bytes. Its
    requests are parsed by `decoder` inside the call, after authentication, so that a request
    that does not parse is an ordinary error of the call; its responses are serialized by
    `encoder`, so that one larger than gRPC would send (`max_response_bytes`) is refused with
    RESOURCE_EXHAUSTED, which is what gRPC would send its caller, but is logged as such and
    says why."""

    def __init__(self, max_response_bytes: int | None = None) -> None:
        self._max_response_bytes = max_response_bytes

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        deserializer = handler.request_deserializer
        decode: Callable[[bytes], Any] = (
            (lambda request: request)
            if deserializer is None
            else decoder(deserializer, handler_call_details.method)
        )
        encode = encoder(handler.response_serializer, self._max_response_bytes)
        streaming = handler.response_streaming

        def respond(response: Any) -> Any:
            return _encoded(response, encode) if streaming else encode(response)

        inner = behaviour(handler)
        call: Callable[[Any, grpc.ServicerContext], Any]
        if handler.request_streaming:

            def from_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> Any:
                return respond(inner((decode(r) for r in requests), context))

            call = from_stream
        else:

            def from_one(request: bytes, context: grpc.ServicerContext) -> Any:
                return respond(inner(decode(request), context))

            call = from_one
        return method_handler(call, handler.request_streaming, streaming)
