// The hand-written face of the generated code: one call that returns both service clients over
// real gRPC (HTTP/2) with the caller's bearer token, and the field violations of a failed call.
import { type Client, ConnectError, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { SERVICE_CONFIG, type ServiceConfig, withServiceConfig } from "./service_config.js";

import { BadRequestSchema } from "./gen/google/rpc/error_details_pb.js";
import { ProfileService } from "./gen/healthscore/v1/profile_service_pb.js";
import { ScoringService } from "./gen/healthscore/v1/scoring_service_pb.js";

export interface HealthScoreClientOptions {
  /** `host:port` (plaintext, as `healthscore serve` listens) or a URL, `http://` or `https://`. */
  address: string;
  /** A token made with `healthscore tokens add`; omit it when the server runs without auth. */
  token?: string | undefined;
  /** Deadline of every call unless the call sets its own (`timeoutMs`). Default: the shared
   * service config's per-method deadline (30 s for a unary call, none for a stream). */
  timeoutMs?: number | undefined;
  /** The largest message sent or received. Default: 64 MiB, the server's limit. */
  maxMessageBytes?: number | undefined;
  /** Retries and default deadlines. Default: `SERVICE_CONFIG`, the one every healthscore client
   * shares (UNAVAILABLE retried for reads, scoring and account data; never design writes). */
  serviceConfig?: ServiceConfig | undefined;
}

/** The largest message a client sends or receives unless told otherwise (the server's limit). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface HealthScoreClients {
  profiles: Client<typeof ProfileService>;
  scoring: Client<typeof ScoringService>;
}

export function createHealthScoreClients(options: HealthScoreClientOptions): HealthScoreClients {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const grpc = createGrpcTransport({
    baseUrl: /^https?:\/\//.test(options.address) ? options.address : `http://${options.address}`,
    interceptors: options.token === undefined ? [] : [bearer(options.token)],
    readMaxBytes: maxBytes,
    writeMaxBytes: maxBytes,
  });
  const transport = withServiceConfig(
    grpc,
    options.serviceConfig ?? SERVICE_CONFIG,
    options.timeoutMs,
  );
  return {
    profiles: createClient(ProfileService, transport),
    scoring: createClient(ScoringService, transport),
  };
}

function bearer(token: string): Interceptor {
  return (next) => async (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
}

export interface FieldViolation {
  /** The offending request field's path, e.g. `accounts[0].attributes["csm_risk"]`. */
  field: string;
  description: string;
}

/** The `google.rpc.BadRequest` field violations of a failed call (INVALID_ARGUMENT); none for
 * other errors. */
export function fieldViolations(error: unknown): FieldViolation[] {
  return ConnectError.from(error)
    .findDetails(BadRequestSchema)
    .flatMap((badRequest) =>
      badRequest.fieldViolations.map(({ field, description }) => ({ field, description })),
    );
}
