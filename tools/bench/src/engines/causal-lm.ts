/**
 * Measures a model behind @oar/generation's CausalLM interface (dynamic and
 * static mode alike) through the same scheduler `predictor` uses, so the
 * numbers include everything a user's run pays: sampling, stopping, the
 * scheduler's bookkeeping.
 */
import { type BatchOptions, type CausalLM, type GenerationRequest, generateBatch, measureRun } from "@oar/generation";
import { type Sample, WARMUP, type Workload, batchPrompts, peakRssBytes, promptTokens } from "../workload.js";

const GREEDY: Omit<BatchOptions, "maxNewTokens"> = { decodeStrategy: "greedy_search", ignoreEos: true };

export async function measureCausalLM(load: () => Promise<CausalLM>, w: Workload): Promise<Sample> {
  const started = performance.now();
  const model = await load();
  const loadMs = performance.now() - started;
  try {
    const run = (requests: GenerationRequest[], maxNewTokens: number) =>
      generateBatch(model, requests, { ...GREEDY, batchSize: requests.length, maxNewTokens });
    await run([{ tokens: promptTokens(WARMUP.prompt, 99) }], WARMUP.newTokens);

    const single = await run([{ tokens: promptTokens(w.shortPrompt) }], w.decodeTokens);
    const singleMetrics = measureRun(single);
    const first = single.results[0]!;

    let batchDecode: number | null = null;
    if (w.batch > 0) {
      const batched = await run(batchPrompts(w).map((tokens) => ({ tokens })), w.batchDecodeTokens);
      batchDecode = measureRun(batched).decodeTokensPerS;
    }
    let prefillLong: number | null = null;
    if (w.longPrompt > 0) prefillLong = measureRun(await run([{ tokens: promptTokens(w.longPrompt) }], 1)).prefillTokensPerS;

    return {
      loadMs,
      ttftMs: first.timing.queuedMs + first.timing.prefillMs,
      prefillShort: singleMetrics.prefillTokensPerS,
      prefillLong,
      decode: singleMetrics.decodeTokensPerS,
      batchDecode,
      peakRssBytes: peakRssBytes(),
      tokens: first.tokens,
    };
  } finally {
    await model.dispose();
  }
}
