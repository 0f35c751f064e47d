"""ScoringService on the wire. `ScoreAccounts` and `StreamScoreAccounts` are registered with
no (de)serializers: the request bytes go to the Rust core as they arrive and the response bytes
it encodes go back as they are, so no Python object is built per account. Python reads only the
request's options (`engine.request_options`, which skips over the accounts).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import grpc
from google.protobuf.message import DecodeError

from healthscore import engine
from healthscore.domain import hierarchy, preview
from healthscore.domain.registry import Registry, Scorer
from healthscore.errors import InvalidInputError, MalformedInputError, Violation
from healthscore.server.context import note
from healthscore.server.status import handles_errors, handles_stream_errors
from healthscore_client.v1 import scoring_pb2, scoring_service_pb2

SERVICE = "healthscore.v1.ScoringService"
_OTHER_MODEL_RESULTS = scoring_pb2.ScoreAccountsResponse.OTHER_MODEL_RESULTS_FIELD_NUMBER


@functools.lru_cache(maxsize=256)
def _ruleset_field(name: str) -> bytes:
    """`ScoreAccountsResponse.ruleset` serialized, appended to every response scored by `name`
    (a handful of names in use: computed once each)."""
    return scoring_pb2.ScoreAccountsResponse(ruleset=name).SerializeToString()


def _cancel_token(context: grpc.ServicerContext) -> engine.CancelToken:
    """The core stops between chunks of accounts once the call is cancelled or its deadline
    passes, instead of finishing work nobody will read."""
    cancel = engine.CancelToken(context.time_remaining())
    context.add_callback(cancel.cancel)
    return cancel


class ScoringServicer:
    """Scores accounts with the active version, a named version, or a draft."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def _score(
        self, request: bytes, context: grpc.ServicerContext, pinned: Scorer | None = None
    ) -> tuple[bytes, Scorer, engine.RequestOptions]:
        options = engine.request_options(request)
        cancel = _cancel_token(context)
        scorer = (
            pinned
            if pinned is not None and not options.ruleset
            else self._registry.resolve(options.ruleset, "ruleset")
        )
        scored = scorer.compiled.score_bytes(request, cancel)
        if options.include_other_model:
            other = self._registry.resolve_other(
                scorer.model, options.other_model_ruleset, "other_model_ruleset"
            )
            other_results = engine.retag_results(
                other.compiled.score_bytes(request, cancel), _OTHER_MODEL_RESULTS
            )
            tail = scoring_pb2.ScoreAccountsResponse(
                ruleset=scorer.name, other_model_ruleset=other.name
            )
            response = b"".join([scored, other_results, tail.SerializeToString()])
        else:
            response = scored + _ruleset_field(scorer.name)
        note(accounts=options.account_count, version=scorer.name)
        return response, scorer, options

    @handles_errors
    def ScoreAccounts(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return self._score(request, context)[0]

    @handles_stream_errors
    def StreamScoreAccounts(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        # The active version is resolved once, at the first batch: one stream, one version.
        pinned: Scorer | None = None
        accounts = 0
        for batches, request in enumerate(requests, start=1):
            response, scorer, options = self._score(request, context, pinned)
            if pinned is None and not options.ruleset:
                pinned = scorer
            accounts += options.account_count
            note(batches=batches, accounts=accounts)
            yield response

    @handles_errors
    def PreviewDraft(
        self, request: bytes, context: grpc.ServicerContext
    ) -> scoring_service_pb2.PreviewDraftResponse:
        try:
            fields = scoring_service_pb2.PreviewDraftRequest.FromString(request)
        except DecodeError as exc:
            raise MalformedInputError(f"malformed request: {exc}") from exc
        if not fields.ruleset:
            raise InvalidInputError(
                "ruleset: required", [Violation("ruleset", "required: the draft or version")]
            )
        target = self._registry.resolve(fields.ruleset, "ruleset")
        baseline = self._registry.resolve(fields.baseline_ruleset, "baseline_ruleset")
        note(version=target.name, baseline=baseline.name)
        return preview.preview(target, baseline, request, cancel=_cancel_token(context))

    @handles_errors
    def ScoreHierarchy(
        self, request: bytes, context: grpc.ServicerContext
    ) -> scoring_service_pb2.ScoreHierarchyResponse:
        scorer = self._registry.resolve(engine.request_options(request).ruleset, "ruleset")
        note(version=scorer.name)
        return hierarchy.score_hierarchy(
            scorer.compiled,
            scorer.ruleset,
            request,
            ruleset_name=scorer.name,
            cancel=_cancel_token(context),
        )


def add_to_server(servicer: ScoringServicer, server: grpc.Server) -> None:
    """Registers the servicer: raw bytes for the scoring paths, messages out for the others."""
    bytes_in = {"request_deserializer": None}
    handlers = {
        "ScoreAccounts": grpc.unary_unary_rpc_method_handler(servicer.ScoreAccounts),
        "StreamScoreAccounts": grpc.stream_stream_rpc_method_handler(servicer.StreamScoreAccounts),
        "PreviewDraft": grpc.unary_unary_rpc_method_handler(
            servicer.PreviewDraft,
            response_serializer=scoring_service_pb2.PreviewDraftResponse.SerializeToString,
            **bytes_in,
        ),
        "ScoreHierarchy": grpc.unary_unary_rpc_method_handler(
            servicer.ScoreHierarchy,
            response_serializer=scoring_service_pb2.ScoreHierarchyResponse.SerializeToString,
            **bytes_in,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
