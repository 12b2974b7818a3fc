/**
 * `--benchmark`'s report: readable lines, then one line of JSON with the
 * same figures for scripts (`tail -n 1 | jq`).
 */
import type { RunMetrics } from "@oar/generation";

/** The figures of the JSON line; rates are per second. */
export interface BenchmarkFigures {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly batch_size: number;
  readonly prefill_tokens_per_s: number;
  readonly decode_tokens_per_s: number;
  readonly tokens_per_s: number;
  readonly requests_per_s: number;
  readonly requests: number;
  readonly wall_s: number;
}

export function benchmarkFigures(metrics: RunMetrics): BenchmarkFigures {
  const round = (x: number): number => Math.round(x * 100) / 100;
  return {
    input_tokens: metrics.inputTokens,
    output_tokens: metrics.outputTokens,
    batch_size: metrics.batchSize,
    prefill_tokens_per_s: round(metrics.prefillTokensPerS),
    decode_tokens_per_s: round(metrics.decodeTokensPerS),
    tokens_per_s: round(metrics.tokensPerS),
    requests_per_s: round(metrics.requestsPerS),
    requests: metrics.requests,
    wall_s: Math.round(metrics.wallMs) / 1000,
  };
}

/** The report: one figure a line, the JSON line last; every line ends in "\n". */
export function formatBenchmark(metrics: RunMetrics): string {
  const f = benchmarkFigures(metrics);
  const perRequest = (n: number): string => (f.requests > 0 ? ` (${(n / f.requests).toFixed(1)} per prompt)` : "");
  const lines = [
    "***********Benchmark**********",
    `prompts:            ${f.requests}`,
    `input length:       ${f.input_tokens} tokens${perRequest(f.input_tokens)}`,
    `output length:      ${f.output_tokens} tokens${perRequest(f.output_tokens)}`,
    `batch size:         ${f.batch_size}`,
    `prefill:            ${f.prefill_tokens_per_s.toFixed(2)} tokens/s`,
    `decode:             ${f.decode_tokens_per_s.toFixed(2)} tokens/s`,
    `total:              ${f.tokens_per_s.toFixed(2)} tokens/s (output tokens / wall time)`,
    `requests:           ${f.requests_per_s.toFixed(2)} requests/s`,
    `wall time:          ${f.wall_s.toFixed(3)} s`,
    JSON.stringify(f),
  ];
  return lines.map((l) => `${l}\n`).join("");
}
