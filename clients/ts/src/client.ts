// The hand-written face of the generated code: one call that returns both service clients over
// real gRPC (HTTP/2) with the caller's bearer token, and the field violations of a failed call.
import { type Client, ConnectError, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { BadRequestSchema } from "./gen/google/rpc/error_details_pb.js";
import { ProfileService } from "./gen/healthscore/v1/profile_service_pb.js";
import { ScoringService } from "./gen/healthscore/v1/scoring_service_pb.js";

export interface HealthScoreClientOptions {
  /** `host:port` (plaintext, as `healthscore serve` listens) or a URL, `http://` or `https://`. */
  address: string;
  /** A token made with `healthscore tokens add`; omit it when the server runs without auth. */
  token?: string | undefined;
  /** Deadline of every call unless the call sets its own (`timeoutMs`). Default: none. */
  timeoutMs?: number | undefined;
}

export interface HealthScoreClients {
  profiles: Client<typeof ProfileService>;
  scoring: Client<typeof ScoringService>;
}

export function createHealthScoreClients(options: HealthScoreClientOptions): HealthScoreClients {
  const transport = createGrpcTransport({
    baseUrl: /^https?:\/\//.test(options.address) ? options.address : `http://${options.address}`,
    interceptors: options.token === undefined ? [] : [bearer(options.token)],
    ...(options.timeoutMs === undefined ? {} : { defaultTimeoutMs: options.timeoutMs }),
  });
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
