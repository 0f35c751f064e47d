export {
  type FieldViolation,
  type HealthScoreClientOptions,
  type HealthScoreClients,
  createHealthScoreClients,
  fieldViolations,
} from "./client.js";
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
