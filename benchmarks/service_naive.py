"""The service benchmark's naive baseline: what one would write without the Rust core.

    python -m benchmarks.service_naive [--port 0]

A plain grpcio server whose ScoreAccounts parses the request into Python protobuf objects and
scores the benchmark workload account by account in Python (the same arithmetic as
`polars_baseline.py`: SPEC §5's exact integers with half-up rounding, for this workload's shape),
answering account id, score and rank. Also serves `EMPTY`, a bare grpcio call (bytes in, no
work, nothing out), the floor under every call. Prints `{"port": N}` on stdout once it serves.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from concurrent import futures

import grpc

from benchmarks.workload import Workload
from healthscore_client.v1 import account_pb2, health_pb2, scoring_pb2

METHOD = "/healthscore.v1.ScoringService/ScoreAccounts"
# grpcio's own cost of a call: raw bytes in and out, no interceptor, no servicer work.
EMPTY = "/healthscore.bench.Bare/Empty"


def _round_div(num: int, den: int) -> int:
    return (2 * num + den) // (2 * den)


def _weighted_mean(scores: list[int | None], weights: tuple[int, ...]) -> int | None:
    """SPEC §5: weights redistributed over the present scores (rounded), then the rounded mean."""
    present = sum(w for s, w in zip(scores, weights, strict=True) if s is not None)
    if present == 0:
        return None
    num = den = 0
    for s, w in zip(scores, weights, strict=True):
        if s is not None:
            effective = _round_div(100 * w, present)
            num += s * effective
            den += effective
    return _round_div(num, den) if den else None


class NaiveScorer:
    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self.metrics = workload.metric_names

    def score(self, account: account_pb2.Account) -> health_pb2.AccountHealth:
        w = self.w
        values = account.attributes
        segment = values["segment"].text_value if "segment" in values else ""
        good, poor = w.thresholds[0] if segment == "enterprise" else w.thresholds[1]
        dimension_scores: list[int | None] = []
        for d in range(w.dimensions):
            metric_scores: list[int | None] = []
            for name in self.metrics[
                d * w.metrics_per_dimension : (d + 1) * w.metrics_per_dimension
            ]:
                if name not in values:
                    metric_scores.append(None)
                    continue
                x = values[name].number_value
                metric_scores.append(0 if x < poor else 100 if x >= good else 60)
            dimension_scores.append(_weighted_mean(metric_scores, w.metric_weights))
        score = _weighted_mean(dimension_scores, w.dimension_weights)
        result = health_pb2.AccountHealth(account_id=account.id)
        if score is None:
            result.rank = health_pb2.HEALTH_RANK_UNKNOWN
        else:
            result.score = score
            result.rank = (
                health_pb2.HEALTH_RANK_POOR
                if score <= w.poor_max
                else health_pb2.HEALTH_RANK_GOOD
                if score >= w.good_min
                else health_pb2.HEALTH_RANK_AVERAGE
            )
        return result


def build_server(threads: int = 16) -> tuple[grpc.Server, int]:
    scorer = NaiveScorer(Workload())

    def score_accounts(
        request: scoring_pb2.ScoreAccountsRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.ScoreAccountsResponse:
        return scoring_pb2.ScoreAccountsResponse(
            results=[scorer.score(account) for account in request.accounts]
        )

    handler = grpc.unary_unary_rpc_method_handler(
        score_accounts,
        request_deserializer=scoring_pb2.ScoreAccountsRequest.FromString,
        response_serializer=scoring_pb2.ScoreAccountsResponse.SerializeToString,
    )
    empty = grpc.unary_unary_rpc_method_handler(lambda request, context: b"")
    service, method = METHOD.strip("/").split("/")
    empty_service, empty_method = EMPTY.strip("/").split("/")
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads),
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(service, {method: handler}),
            grpc.method_handlers_generic_handler(empty_service, {empty_method: empty}),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    return server, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args(argv)
    server, port = build_server()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    print(json.dumps({"port": port}), flush=True)
    stop.wait()
    server.stop(1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
