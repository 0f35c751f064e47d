// gRPC's service config for healthscore.v1 — the one every healthscore client uses (its source is
// proto/healthscore/v1/service_config.json, copied beside the generated code by `npm run
// generate`). Connect's gRPC transport does not read service configs, so this module applies the
// same file itself: each method's default deadline, and its retry policy (UNAVAILABLE only, with
// gRPC's exponential backoff and jitter, within the call's one deadline).
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";

import shared from "./gen/healthscore/v1/service_config.json" with { type: "json" };

interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
  retryableStatusCodes: Code[];
}

/** What the service config says of one method. */
export interface MethodPolicy {
  timeoutMs?: number | undefined;
  retry?: RetryPolicy | undefined;
}

interface MethodConfig {
  name: { service: string; method?: string }[];
  timeout?: string;
  retryPolicy?: {
    maxAttempts: number;
    initialBackoff: string;
    maxBackoff: string;
    backoffMultiplier: number;
    retryableStatusCodes: string[];
  };
}

export interface ServiceConfig {
  methodConfig: MethodConfig[];
}

/** The most attempts gRPC makes of a call, whatever a service config asks. */
export const MAX_ATTEMPTS = 5;

/** The shared service config, as the file holds it. */
export const SERVICE_CONFIG: ServiceConfig = shared;

function milliseconds(duration: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)s$/.exec(duration);
  if (match?.[1] === undefined) throw new Error(`service config: ${duration} is not a duration`);
  return Number(match[1]) * 1000;
}

function statusCode(name: string): Code {
  const camel = name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const code = (Code as unknown as Record<string, Code>)[camel[0]!.toUpperCase() + camel.slice(1)];
  if (code === undefined) throw new Error(`service config: unknown status code ${name}`);
  return code;
}

/** The policy of `service`/`method`: the method's own entry, else its service's (gRPC's rule). */
export function methodPolicy(config: ServiceConfig, service: string, method: string): MethodPolicy {
  const find = (exact: boolean) =>
    config.methodConfig.find((entry) =>
      entry.name.some(
        (name) => name.service === service && (exact ? name.method === method : !name.method),
      ),
    );
  const entry = find(true) ?? find(false);
  if (entry === undefined) return {};
  const policy = entry.retryPolicy;
  return {
    timeoutMs: entry.timeout === undefined ? undefined : milliseconds(entry.timeout),
    retry:
      policy === undefined
        ? undefined
        : {
            maxAttempts: Math.min(policy.maxAttempts, MAX_ATTEMPTS),
            initialBackoffMs: milliseconds(policy.initialBackoff),
            maxBackoffMs: milliseconds(policy.maxBackoff),
            backoffMultiplier: policy.backoffMultiplier,
            retryableStatusCodes: policy.retryableStatusCodes.map(statusCode),
          },
  };
}

function policyOf(config: ServiceConfig, method: DescMethod): MethodPolicy {
  return methodPolicy(config, method.parent.typeName, method.name);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(ConnectError.from(signal.reason, Code.Canceled));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(ConnectError.from(signal?.reason, Code.Canceled));
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** `transport` with the service config applied: a call without its own `timeoutMs` gets
 * `defaultTimeoutMs` when given, else the method's deadline, and a unary call whose method has a
 * retry policy is retried on the codes it names, at most `maxAttempts` times, after a random wait
 * up to a backoff that grows by `backoffMultiplier` from `initialBackoff` to `maxBackoff` (gRPC's
 * retry rules), all within the call's one deadline. Streams are not retried. */
export function withServiceConfig(
  transport: Transport,
  config: ServiceConfig,
  defaultTimeoutMs?: number,
): Transport {
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const policy = policyOf(config, method);
      const deadlineMs = timeoutMs ?? defaultTimeoutMs ?? policy.timeoutMs;
      const end = deadlineMs === undefined ? undefined : Date.now() + deadlineMs;
      let backoffMs = policy.retry?.initialBackoffMs ?? 0;
      for (let attempt = 1; ; attempt++) {
        const remaining = end === undefined ? undefined : Math.max(1, end - Date.now());
        try {
          return await transport.unary(method, signal, remaining, header, input, contextValues);
        } catch (error) {
          const retry = policy.retry;
          const code = ConnectError.from(error).code;
          if (
            retry === undefined ||
            !retry.retryableStatusCodes.includes(code) ||
            attempt >= retry.maxAttempts
          ) {
            throw error;
          }
          const waitMs = Math.random() * backoffMs;
          if (end !== undefined && Date.now() + waitMs >= end) throw error;
          await sleep(waitMs, signal);
          backoffMs = Math.min(backoffMs * retry.backoffMultiplier, retry.maxBackoffMs);
        }
      }
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      const deadlineMs = timeoutMs ?? defaultTimeoutMs ?? policyOf(config, method).timeoutMs;
      return transport.stream(method, signal, deadlineMs, header, input, contextValues);
    },
  };
}
