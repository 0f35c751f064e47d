// Scores two accounts with the active version and prints each one's profile, score and rank.
//
//   HEALTHSCORE_ADDRESS=127.0.0.1:50051 HEALTHSCORE_TOKEN=... node dist/examples/score.js
import { HealthRank, UnknownReason, createHealthScoreClients } from "../src/index.js";

const address = process.env["HEALTHSCORE_ADDRESS"] ?? "127.0.0.1:50051";
const { scoring } = createHealthScoreClients({
  address,
  token: process.env["HEALTHSCORE_TOKEN"] ?? process.env["HEALTHSCORE_VIEWER_TOKEN"],
  timeoutMs: 10_000,
});

const response = await scoring.scoreAccounts({
  accounts: [
    {
      id: "acme",
      attributes: {
        engagement_score: { kind: { case: "numberValue", value: 85 } },
        usage_frequency: { kind: { case: "textValue", value: "daily" } },
        license_utilization: { kind: { case: "numberValue", value: 72 } },
      },
    },
    {
      id: "globex",
      attributes: {
        engagement_score: { kind: { case: "numberValue", value: 8 } },
        usage_frequency: { kind: { case: "textValue", value: "inactive" } },
        open_tickets: { kind: { case: "numberValue", value: 9 } },
      },
    },
  ],
});

console.log(`scored with ${response.ruleset}`);
for (const result of response.results) {
  const score = result.score === undefined ? "-" : String(result.score);
  const why =
    result.rank === HealthRank.UNKNOWN ? ` (${UnknownReason[result.unknownReason]})` : "";
  console.log(
    `${result.accountId}: profile ${result.profile || "-"}, score ${score}, ` +
      `rank ${HealthRank[result.rank]}${why}`,
  );
}
