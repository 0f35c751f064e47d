// Interop: the generated TypeScript client against a live `healthscore serve` with auth on.
// Run it through clients/interop/harness.py, which starts the server and sets the variables
// below. The expected scores are worked out by hand from SPEC §3 and §5 (see ACCOUNTS).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { type MessageInitShape, toBinary } from "@bufbuild/protobuf";

import {
  AccountStatus,
  Code,
  ConnectError,
  type CriterionSchema,
  HealthModel,
  HealthRank,
  type MetricSchema,
  type ModelSettingsSchema,
  Operator,
  type ProfileSchema,
  ScoreAccountsResponseSchema,
  ScoreView,
  UnknownReason,
  type ValueSchema,
  createHealthScoreClients,
  fieldViolations,
} from "../src/index.js";

const VARIABLES = [
  "HEALTHSCORE_ADDRESS",
  "HEALTHSCORE_VIEWER_TOKEN",
  "HEALTHSCORE_EDITOR_TOKEN",
  "HEALTHSCORE_ADMIN_TOKEN",
];
const MD_DRAFT = "models/multidimensional/draft";

type Criterion = MessageInitShape<typeof CriterionSchema>;
type Value = MessageInitShape<typeof ValueSchema>;

function number(attribute: string, operator: Operator, value: number): Criterion {
  return {
    kind: { case: "predicate", value: { attribute, operator, operand: { case: "number", value } } },
  };
}

function metric(
  attribute: string,
  weight: number,
  [goodOp, good]: [Operator, number],
  [poorOp, poor]: [Operator, number],
): MessageInitShape<typeof MetricSchema> {
  return {
    attribute,
    weight,
    good: number(attribute, goodOp, good),
    poor: number(attribute, poorOp, poor),
  };
}

const { GREATER_THAN_OR_EQUAL: GE, LESS_THAN: LT, LESS_THAN_OR_EQUAL: LE } = Operator;

// Thresholds off the defaults (40/70), so that the boundary accounts below tell them apart.
const SETTINGS: MessageInitShape<typeof ModelSettingsSchema> = {
  poorMax: 45,
  goodMin: 73,
  ignoreMissing: true,
};

// Enterprise accounts only; usage (engagement) and adoption (licenses 75, active users 25) count
// half each. A metric scores 100 when good holds, 0 when poor holds, else 60 (SPEC §5).
const PROFILE: MessageInitShape<typeof ProfileSchema> = {
  name: "interop",
  segment: {
    kind: {
      case: "predicate",
      value: {
        attribute: "account_type",
        operator: Operator.EQUAL,
        operand: { case: "text", value: "enterprise" },
      },
    },
  },
  dimensions: [
    { dimension: "usage", weight: 50 },
    { dimension: "adoption", weight: 50 },
  ],
  metrics: [
    metric("engagement_score", 100, [GE, 70], [LT, 30]),
    metric("license_utilization", 75, [GE, 50], [LT, 20]),
    metric("active_users", 25, [GE, 3], [LE, 1]),
  ],
};

interface Expected {
  id: string;
  attributes: Record<string, number | string>;
  cancelled?: boolean;
  profile: string;
  score: number | undefined;
  rank: keyof typeof HealthRank;
  reason?: keyof typeof UnknownReason;
}

const enterprise = { account_type: "enterprise" };
const e = (attributes: Record<string, number>) => ({ ...enterprise, ...attributes });

const ACCOUNTS: Expected[] = [
  // usage 100, adoption 100 -> 100, at or above good_min.
  {
    id: "thriving",
    attributes: e({ engagement_score: 90, license_utilization: 80, active_users: 10 }),
    profile: "interop",
    score: 100,
    rank: "GOOD",
  },
  // Every poor criterion holds -> 0.
  {
    id: "at-risk",
    attributes: e({ engagement_score: 10, license_utilization: 10, active_users: 0 }),
    profile: "interop",
    score: 0,
    rank: "POOR",
  },
  // Neither column holds anywhere -> 60 everywhere.
  {
    id: "steady",
    attributes: e({ engagement_score: 50, license_utilization: 30, active_users: 2 }),
    profile: "interop",
    score: 60,
    rank: "AVERAGE",
  },
  // usage 100; adoption (60*75 + 0*25)/100 = 45; account (100*50 + 45*50)/100 = 72.5 -> 73 half
  // up, GOOD at good_min 73 (half-to-even or truncation would give 72, AVERAGE).
  {
    id: "half-up",
    attributes: e({ engagement_score: 90, license_utilization: 30, active_users: 1 }),
    profile: "interop",
    score: 73,
    rank: "GOOD",
  },
  // usage 0; adoption (100*75 + 60*25)/100 = 90; account 45: at poor_max 45, POOR.
  {
    id: "on-the-poor-line",
    attributes: e({ engagement_score: 10, license_utilization: 80, active_users: 2 }),
    profile: "interop",
    score: 45,
    rank: "POOR",
  },
  // No license value, ignore-missing on: active users take all of adoption (25*100/25 = 100),
  // adoption 100; account (60*50 + 100*50)/100 = 80. (Scored 60 instead, it would be 65.)
  {
    id: "no-license-data",
    attributes: e({ engagement_score: 50, active_users: 5 }),
    profile: "interop",
    score: 80,
    rank: "GOOD",
  },
  // Every metric ignored, so every dimension: UNKNOWN, NO_DATA.
  {
    id: "no-data",
    attributes: enterprise,
    profile: "interop",
    score: undefined,
    rank: "UNKNOWN",
    reason: "NO_DATA",
  },
  // The only profile's segment does not match: UNKNOWN, NO_PROFILE.
  {
    id: "smb",
    attributes: { account_type: "smb", engagement_score: 90 },
    profile: "",
    score: undefined,
    rank: "UNKNOWN",
    reason: "NO_PROFILE",
  },
  // Cancelled comes before any profile: UNKNOWN, CANCELLED.
  {
    id: "churned",
    attributes: e({ engagement_score: 90, license_utilization: 80, active_users: 10 }),
    cancelled: true,
    profile: "",
    score: undefined,
    rank: "UNKNOWN",
    reason: "CANCELLED",
  },
];

function values(attributes: Record<string, number | string>): Record<string, Value> {
  const entries = Object.entries(attributes).map(([name, v]): [string, Value] => [
    name,
    typeof v === "number"
      ? { kind: { case: "numberValue", value: v } }
      : { kind: { case: "textValue", value: v } },
  ]);
  return Object.fromEntries(entries);
}

/** The error a call fails with; the test fails if the call succeeds. */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  assert.fail("the call succeeded");
}

function interop(): void {
  const address = process.env["HEALTHSCORE_ADDRESS"] ?? "";
  const as = (role: "VIEWER" | "EDITOR" | "ADMIN") =>
    createHealthScoreClients({
      address,
      token: process.env[`HEALTHSCORE_${role}_TOKEN`] ?? "",
      timeoutMs: 15_000,
    });
  const viewer = as("VIEWER");
  const editor = as("EDITOR");
  const admin = as("ADMIN");
  let published = "";

  it("reads the active version", async () => {
    const active = await viewer.profiles.getActiveVersion({});
    assert.match(active.version, /^models\/(multidimensional|account-health)\/versions\/\d+$/);
    assert.notEqual(active.model, HealthModel.UNSPECIFIED);
  });

  it("refuses the viewer a draft update", async () => {
    const error = await refusal(
      viewer.profiles.updateDraft({
        draft: { name: MD_DRAFT, profiles: [PROFILE] },
        updateMask: { paths: ["profiles"] },
      }),
    );
    assert.equal(error.code, Code.PermissionDenied, error.message);
  });

  it("lets the editor update and publish a draft, and only the admin activate it", async () => {
    const draft = await editor.profiles.updateDraft({
      draft: { name: MD_DRAFT, settings: SETTINGS, profiles: [PROFILE] },
      updateMask: { paths: ["settings", "profiles"] },
    });
    assert.deepEqual(
      draft.profiles.map((p) => p.name),
      ["interop"],
    );
    const version = await editor.profiles.publishDraft({
      name: MD_DRAFT,
      comment: "ts interop",
      etag: draft.etag,
    });
    assert.match(version.name, /^models\/multidimensional\/versions\/\d+$/);

    const error = await refusal(editor.profiles.activateVersion({ name: version.name }));
    assert.equal(error.code, Code.PermissionDenied, error.message);

    const activation = await admin.profiles.activateVersion({ name: version.name });
    assert.equal(activation.version, version.name);
    const active = await viewer.profiles.getActiveVersion({});
    assert.equal(active.version, version.name);
    assert.equal(active.model, HealthModel.MULTIDIMENSIONAL);
    published = version.name;
  });

  it("scores accounts as SPEC says, with the activated version", async () => {
    assert.ok(published, "no version was published and activated");
    const response = await viewer.scoring.scoreAccounts({
      accounts: ACCOUNTS.map(({ id, attributes, cancelled }) => ({
        id,
        attributes: values(attributes),
        status: cancelled ? AccountStatus.CANCELLED : AccountStatus.ACTIVE,
      })),
    });
    assert.equal(response.ruleset, published);
    assert.deepEqual(
      response.results.map((r) => ({
        id: r.accountId,
        profile: r.profile,
        score: r.score,
        rank: HealthRank[r.rank],
        reason: UnknownReason[r.unknownReason],
      })),
      ACCOUNTS.map(({ id, profile, score, rank, reason }) => ({
        id,
        profile,
        score,
        rank,
        reason: reason ?? "UNSPECIFIED",
      })),
    );
  });

  it("answers a bad value with INVALID_ARGUMENT and a field violation naming it", async () => {
    const error = await refusal(
      viewer.scoring.scoreAccounts({
        accounts: [
          { id: "fine", attributes: values({ engagement_score: 50 }) },
          { id: "bad", attributes: values({ usage_frequency: "hourly" }) },
        ],
      }),
    );
    assert.equal(error.code, Code.InvalidArgument, error.message);
    const violations = fieldViolations(error);
    assert.equal(violations.length, 1, JSON.stringify(violations));
    assert.equal(violations[0]?.field, 'accounts[1].attributes["usage_frequency"]');
    assert.match(violations[0]?.description ?? "", /hourly/);
  });

  it("receives a response above gRPC's 4 MiB default (the server sends up to 64 MiB)", async () => {
    // Long ids (each result repeats its account's) make the response large whatever the profile.
    const accounts = Array.from({ length: 20_000 }, (_, i) => ({
      id: `large-${String(i).padStart(6, "0")}-${"x".repeat(200)}`,
      attributes: values({ engagement_score: i % 100, open_tickets: i % 7 }),
    }));
    const response = await viewer.scoring.scoreAccounts({ accounts, view: ScoreView.FULL });
    const size = toBinary(ScoreAccountsResponseSchema, response).length;
    assert.ok(size > 4 * 1024 * 1024, `the response is ${size} bytes: not above 4 MiB`);
    assert.equal(response.results.length, accounts.length);
  });
}

const missing = VARIABLES.filter((name) => !process.env[name]);
if (missing.length === 0) {
  describe("healthscore interop", interop);
} else {
  // Without a server the test is skipped, unless the caller says it must run: then a missing
  // variable fails it, so that a broken harness cannot pass as a skipped test.
  const required = process.env["HEALTHSCORE_INTEROP_REQUIRED"] === "1";
  it("has a server to talk to", { skip: !required && `${missing.join(", ")} not set` }, () => {
    assert.fail(`HEALTHSCORE_INTEROP_REQUIRED=1 but ${missing.join(", ")} not set`);
  });
}
