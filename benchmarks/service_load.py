"""The service benchmark's load generator: a bounded async gRPC client in its own process.

    python -m benchmarks.service_load --target HOST:PORT --method /pkg.Service/Method \
        --request FILE [--stream] [--in-flight 16] [--channels 8] [--seconds 3] [--warmup 0.5]

Sends the serialized request in FILE over and over with a fixed number of calls in flight (raw
bytes both ways: no serializer, so the client spends no time on protobuf), spread over
`--channels` connections (each its own, so that `serve --workers` spreads them). Prints one JSON
object: calls completed in the measured window, its length, and latency percentiles of the calls
started inside it. `--stream` opens one StreamScoreAccounts call per channel instead and keeps
`--in-flight` batches outstanding over them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import grpc

_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
]


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))
    return sorted_values[index]


class Window:
    """Counts calls that end inside [start, end) and the latency of those started inside it."""

    def __init__(self, warmup: float, seconds: float) -> None:
        now = time.perf_counter()
        self.start = now + warmup
        self.end = self.start + seconds
        self.completed = 0
        self.latencies: list[float] = []

    def record(self, began: float, ended: float) -> None:
        if self.start <= ended < self.end:
            self.completed += 1
        if self.start <= began < self.end:
            self.latencies.append(ended - began)

    def report(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "calls": self.completed,
            "seconds": self.end - self.start,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
        }


async def unary_load(
    channels: list[grpc.aio.Channel], method: str, payload: bytes, in_flight: int, window: Window
) -> None:
    callables = [channel.unary_unary(method) for channel in channels]

    async def slot(index: int) -> None:
        call = callables[index % len(callables)]
        while True:
            began = time.perf_counter()
            if began >= window.end:
                return
            await call(payload, timeout=120)
            window.record(began, time.perf_counter())

    await asyncio.gather(*(slot(i) for i in range(in_flight)))


async def stream_load(
    channels: list[grpc.aio.Channel], method: str, payload: bytes, in_flight: int, window: Window
) -> None:
    per_stream = max(1, in_flight // len(channels))

    async def stream(channel: grpc.aio.Channel) -> None:
        call: Any = channel.stream_stream(method)(timeout=600)
        sent: asyncio.Queue[float] = asyncio.Queue()
        room = asyncio.Semaphore(per_stream)

        async def write() -> None:
            while time.perf_counter() < window.end:
                await room.acquire()
                sent.put_nowait(time.perf_counter())
                await call.write(payload)
            await call.done_writing()

        writer = asyncio.ensure_future(write())
        while (response := await call.read()) is not grpc.aio.EOF:
            assert response
            window.record(sent.get_nowait(), time.perf_counter())
            room.release()
        await writer

    await asyncio.gather(*(stream(channel) for channel in channels))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    payload = Path(args.request).read_bytes()
    channels = [
        grpc.aio.insecure_channel(args.target, options=_OPTIONS) for _ in range(args.channels)
    ]
    try:
        await asyncio.gather(
            *(asyncio.wait_for(channel.channel_ready(), 30) for channel in channels)
        )
        window = Window(args.warmup, args.seconds)
        load = stream_load if args.stream else unary_load
        await load(channels, args.method, payload, args.in_flight, window)
        return window.report()
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--request", required=True, help="file of the serialized request")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
