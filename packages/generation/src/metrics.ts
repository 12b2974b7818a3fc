import type { BatchRun } from "./scheduler.js";

/** Throughput of a run, for `predictor --benchmark`. Rates are per second. */
export interface RunMetrics {
  readonly requests: number;
  readonly batchSize: number;
  /** Prompt tokens, all requests. */
  readonly inputTokens: number;
  /** New tokens returned, all requests (EOS ids that ended a sequence excluded). */
  readonly outputTokens: number;
  /** Tokens fed to decode calls (each request's first new token comes from its prefill). */
  readonly decodeTokens: number;
  readonly wallMs: number;
  /** Time in prefill calls, summed over steps. */
  readonly prefillMs: number;
  /** Time in decode calls, summed over steps. */
  readonly decodeMs: number;
  /** inputTokens / prefill time. */
  readonly prefillTokensPerS: number;
  /** decodeTokens / decode time. */
  readonly decodeTokensPerS: number;
  /** outputTokens / wall time (PaddleNLP's benchmark "IPS"). */
  readonly tokensPerS: number;
  /** requests / wall time (PaddleNLP's "QPS"). */
  readonly requestsPerS: number;
}

/** Sums a run's step log and results into throughput figures; a rate over no time is 0. */
export function measureRun(run: BatchRun): RunMetrics {
  let prefillMs = 0;
  let decodeMs = 0;
  let decodeTokens = 0;
  for (const step of run.steps) {
    prefillMs += step.prefillMs;
    decodeMs += step.decodeMs;
    for (const slot of step.slots) if (slot?.phase === "decode") decodeTokens += slot.tokens;
  }
  let inputTokens = 0;
  let outputTokens = 0;
  for (const result of run.results) {
    inputTokens += result.promptTokens;
    outputTokens += result.tokens.length;
  }
  const perSecond = (count: number, ms: number): number => (ms > 0 ? (count * 1000) / ms : 0);
  return {
    requests: run.results.length,
    batchSize: run.batchSize,
    inputTokens,
    outputTokens,
    decodeTokens,
    wallMs: run.wallMs,
    prefillMs,
    decodeMs,
    prefillTokensPerS: perSecond(inputTokens, prefillMs),
    decodeTokensPerS: perSecond(decodeTokens, decodeMs),
    tokensPerS: perSecond(outputTokens, run.wallMs),
    requestsPerS: perSecond(run.results.length, run.wallMs),
  };
}
