"""The protobuf wire format by hand, for the few places that move messages as bytes without
building them: account data intake (records encoded column-wise, requests framed, results split;
`jobs/ingest.py`, `domain/accounts.py`) and preview's request trimming (`domain/preview.py`)."""

from __future__ import annotations

# Varints below 2^14 (one or two bytes: nearly every length and tag), made once.
_SHORT_VARINTS = [
    bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(1 << 14)
]


def varint(n: int) -> bytes:
    """`n` (>= 0) as a base-128 varint."""
    if n < 1 << 14:
        return _SHORT_VARINTS[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def delimited(field_number: int, payload: bytes) -> bytes:
    """A length-delimited field: its key, the payload's length and the payload."""
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at `position`, and the position after it."""
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
