"""Re-encodes a protobuf message into different but equivalent wire bytes: fields in another
order, unknown fields inserted, explicit default values, singular fields written twice (the last
wins), sub-messages split in two (they merge), repeated scalars packed or not. Python's own
parser is the oracle for what such bytes mean."""

from __future__ import annotations

import math
import random
import struct

from google.protobuf.descriptor import FieldDescriptor as FD

_VARINT_TYPES = {
    FD.TYPE_INT32,
    FD.TYPE_INT64,
    FD.TYPE_UINT32,
    FD.TYPE_UINT64,
    FD.TYPE_BOOL,
    FD.TYPE_ENUM,
}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32/int64 are ten-byte two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _scalar(fd, value) -> tuple[int, bytes]:
    """(wire type, payload) of one scalar value."""
    t = fd.type
    if t in _VARINT_TYPES:
        return 0, varint(int(value))
    if t in (FD.TYPE_SINT32, FD.TYPE_SINT64):
        return 0, varint((value << 1) ^ (value >> 63))
    if t == FD.TYPE_DOUBLE:
        return 1, struct.pack("<d", value)
    if t == FD.TYPE_FLOAT:
        return 5, struct.pack("<f", value)
    if t in (FD.TYPE_FIXED64, FD.TYPE_SFIXED64):
        return 1, struct.pack("<q" if t == FD.TYPE_SFIXED64 else "<Q", value)
    if t in (FD.TYPE_FIXED32, FD.TYPE_SFIXED32):
        return 5, struct.pack("<i" if t == FD.TYPE_SFIXED32 else "<I", value)
    if t == FD.TYPE_STRING:
        data = value.encode()
        return 2, varint(len(data)) + data
    if t == FD.TYPE_BYTES:
        return 2, varint(len(value)) + value
    raise AssertionError(t)


def length_delimited(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def _unknown_field(rnd: random.Random) -> bytes:
    number = rnd.choice([99, 1000, 536_870_911])
    kind = rnd.randrange(4)
    if kind == 0:
        return tag(number, 0) + varint(rnd.randrange(1 << 64))
    if kind == 1:
        return tag(number, 1) + rnd.randbytes(8)
    if kind == 2:
        return tag(number, 5) + rnd.randbytes(4)
    return length_delimited(number, rnd.randbytes(rnd.randrange(6)))


def reencode(message, rnd: random.Random) -> bytes:
    """Equivalent wire bytes for `message`."""
    fields: list[list[bytes]] = []  # per field, its chunks in order
    descriptor = message.DESCRIPTOR
    for fd in descriptor.fields:
        chunks: list[bytes] = []
        fields.append(chunks)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            mapping = getattr(message, fd.name)
            key_fd = fd.message_type.fields_by_name["key"]
            value_fd = fd.message_type.fields_by_name["value"]
            for key in mapping:
                value = mapping[key]
                parts = [tag(1, _scalar(key_fd, key)[0]) + _scalar(key_fd, key)[1]]
                if value_fd.message_type is not None:
                    encoded = reencode(value, rnd)
                    if encoded or rnd.random() < 0.5:  # an empty value may be left out
                        parts.append(length_delimited(2, encoded))
                else:
                    w, payload = _scalar(value_fd, value)
                    parts.append(tag(2, w) + payload)
                rnd.shuffle(parts)
                chunks.append(length_delimited(fd.number, b"".join(parts)))
            continue
        if fd.is_repeated:
            values = list(getattr(message, fd.name))
            if not values:
                continue
            if fd.message_type is not None:
                chunks.extend(length_delimited(fd.number, reencode(v, rnd)) for v in values)
            elif fd.type in (FD.TYPE_STRING, FD.TYPE_BYTES) or rnd.random() < 0.5:
                for v in values:  # unpacked, one element per chunk
                    w, payload = _scalar(fd, v)
                    chunks.append(tag(fd.number, w) + payload)
            else:  # packed, possibly in two runs
                cut = rnd.randrange(len(values) + 1)
                for run in (values[:cut], values[cut:]):
                    if run:
                        body = b"".join(_scalar(fd, v)[1] for v in run)
                        chunks.append(length_delimited(fd.number, body))
            continue
        has_presence = fd.has_presence
        is_set = message.HasField(fd.name) if has_presence else None
        value = getattr(message, fd.name)
        if fd.message_type is not None:
            if not is_set:
                continue
            encoded = reencode(value, rnd)
            if rnd.random() < 0.3 and len(encoded) > 0:
                # split into two occurrences that merge: an empty one first
                chunks.append(length_delimited(fd.number, b""))
            chunks.append(length_delimited(fd.number, encoded))
            continue
        if has_presence and not is_set:
            continue
        is_default = value == fd.default_value
        if isinstance(value, float):
            is_default = value == 0.0 and math.copysign(1.0, value) > 0
        if not has_presence and is_default:
            if rnd.random() < 0.3:  # an explicit default value
                w, payload = _scalar(fd, value)
                chunks.append(tag(fd.number, w) + payload)
            continue
        w, payload = _scalar(fd, value)
        if rnd.random() < 0.2 and fd.containing_oneof is None:
            # written twice: the last occurrence wins
            other = 1.5 if isinstance(value, float) else fd.default_value
            w0, p0 = _scalar(fd, other)
            chunks.append(tag(fd.number, w0) + p0)
            chunks.append(tag(fd.number, w) + payload)
            continue
        chunks.append(tag(fd.number, w) + payload)
    # interleave the fields at random; a field's own chunks keep their order
    out: list[bytes] = []
    pending = [chunks for chunks in fields if chunks]
    if rnd.random() < 0.5:
        pending.reverse()
    while pending:
        chunks = pending[rnd.randrange(len(pending))] if rnd.random() < 0.5 else pending[0]
        out.append(chunks.pop(0))
        pending = [c for c in pending if c]
    if rnd.random() < 0.3:
        out.insert(rnd.randrange(len(out) + 1), _unknown_field(rnd))
    return b"".join(out)
