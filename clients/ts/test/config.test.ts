// The shared service config and the message limit, against an in-process fake server whose
// methods fail as a test scripts them: UNAVAILABLE is retried for reads and scoring, never for
// writes, and no other code is; a response above gRPC's 4 MiB default arrives. No live server.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";

import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

import {
  MAX_ATTEMPTS,
  ProfileService,
  SERVICE_CONFIG,
  ScoringService,
  createHealthScoreClients,
  methodPolicy,
} from "../src/index.js";

/** Whether a rejected call failed with `code`. */
function failedWith(code: Code): (error: unknown) => boolean {
  return (error) => ConnectError.from(error).code === code;
}

/** Scripted failures by method, with the code to fail with, and the calls counted. */
const fake = {
  code: Code.Unavailable,
  failures: new Map<string, number>(),
  calls: new Map<string, number>(),
  results: 0,
  fail(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const left = this.failures.get(method) ?? 0;
    if (left > 0) {
      this.failures.set(method, left - 1);
      throw new ConnectError(`${method}: scripted failure`, this.code);
    }
  },
  reset(code: Code): void {
    this.code = code;
    this.failures.clear();
    this.calls.clear();
  },
};

function routes(router: ConnectRouter): void {
  router.service(ProfileService, {
    getDraft() {
      fake.fail("GetDraft");
      return { name: "models/multidimensional/draft", etag: "e1" };
    },
    publishDraft() {
      fake.fail("PublishDraft");
      return { name: "models/multidimensional/versions/2" };
    },
  });
  router.service(ScoringService, {
    scoreAccounts() {
      fake.fail("ScoreAccounts");
      const id = "x".repeat(100);
      return {
        ruleset: "fake",
        results: Array.from({ length: fake.results }, (_, i) => ({ accountId: `${id}${i}` })),
      };
    },
  });
}

describe("the shared service config", () => {
  let server: http2.Http2Server;
  let address = "";
  const sessions = new Set<http2.ServerHttp2Session>();

  before(async () => {
    const adapter = connectNodeAdapter({
      routes,
      grpc: true,
      connect: false,
      grpcWeb: false,
      writeMaxBytes: 64 << 20,
    });
    server = http2.createServer(adapter);
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    // The clients keep their HTTP/2 sessions open: end them, or the process never exits.
    for (const session of sessions) session.destroy();
    server.close();
  });

  it("is the file every client shares", () => {
    const shared = new URL("../../../../proto/healthscore/v1/service_config.json", import.meta.url);
    assert.deepEqual(SERVICE_CONFIG, JSON.parse(readFileSync(shared, "utf8")));
    const read = methodPolicy(SERVICE_CONFIG, "healthscore.v1.ProfileService", "GetDraft");
    assert.deepEqual(read.retry?.retryableStatusCodes, [Code.Unavailable]);
    assert.equal(read.timeoutMs, 30_000);
    const write = methodPolicy(SERVICE_CONFIG, "healthscore.v1.ProfileService", "PublishDraft");
    assert.equal(write.retry, undefined);
  });

  it("retries UNAVAILABLE for reads and scoring, at most MAX_ATTEMPTS times", async () => {
    fake.reset(Code.Unavailable);
    const clients = createHealthScoreClients({ address });
    fake.failures.set("GetDraft", 2).set("ScoreAccounts", 3);
    assert.equal((await clients.profiles.getDraft({})).etag, "e1");
    assert.equal((await clients.scoring.scoreAccounts({})).ruleset, "fake");
    assert.deepEqual(Object.fromEntries(fake.calls), { GetDraft: 3, ScoreAccounts: 4 });
    fake.reset(Code.Unavailable);
    fake.failures.set("GetDraft", 10);
    await assert.rejects(clients.profiles.getDraft({}), failedWith(Code.Unavailable));
    assert.equal(fake.calls.get("GetDraft"), MAX_ATTEMPTS);
  });

  it("never retries a write", async () => {
    fake.reset(Code.Unavailable);
    const clients = createHealthScoreClients({ address });
    fake.failures.set("PublishDraft", 1);
    await assert.rejects(clients.profiles.publishDraft({}), failedWith(Code.Unavailable));
    assert.equal(fake.calls.get("PublishDraft"), 1);
  });

  for (const code of [Code.InvalidArgument, Code.DeadlineExceeded, Code.Internal]) {
    it(`does not retry ${Code[code]}`, async () => {
      fake.reset(code);
      const clients = createHealthScoreClients({ address });
      fake.failures.set("GetDraft", 1).set("ScoreAccounts", 1);
      await assert.rejects(clients.profiles.getDraft({}), failedWith(code));
      await assert.rejects(clients.scoring.scoreAccounts({}), failedWith(code));
      assert.deepEqual(Object.fromEntries(fake.calls), { GetDraft: 1, ScoreAccounts: 1 });
    });
  }

  it("receives a response above 4 MiB, up to the limit it is given", async () => {
    fake.reset(Code.Unavailable);
    fake.results = 60_000; // about 6.5 MB
    try {
      const response = await createHealthScoreClients({ address }).scoring.scoreAccounts({});
      assert.equal(response.results.length, 60_000);
      const small = createHealthScoreClients({ address, maxMessageBytes: 4 << 20 });
      await assert.rejects(small.scoring.scoreAccounts({}), failedWith(Code.ResourceExhausted));
    } finally {
      fake.results = 0;
    }
  });
});
