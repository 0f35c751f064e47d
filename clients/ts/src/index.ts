export {
  DEFAULT_MAX_MESSAGE_BYTES,
  type FieldViolation,
  type HealthScoreClientOptions,
  type HealthScoreClients,
  createHealthScoreClients,
  fieldViolations,
} from "./client.js";
export {
  MAX_ATTEMPTS,
  type MethodPolicy,
  SERVICE_CONFIG,
  type ServiceConfig,
  methodPolicy,
  withServiceConfig,
} from "./service_config.js";
export { Code, ConnectError } from "@connectrpc/connect";
export * from "./gen/healthscore/v1/account_pb.js";
export * from "./gen/healthscore/v1/catalog_pb.js";
export * from "./gen/healthscore/v1/criteria_pb.js";
export * from "./gen/healthscore/v1/enterprise_pb.js";
export * from "./gen/healthscore/v1/health_pb.js";
export * from "./gen/healthscore/v1/profile_service_pb.js";
export * from "./gen/healthscore/v1/ruleset_pb.js";
export * from "./gen/healthscore/v1/scoring_pb.js";
export * from "./gen/healthscore/v1/scoring_service_pb.js";
