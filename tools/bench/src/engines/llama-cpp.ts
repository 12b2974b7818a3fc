/**
 * llama.cpp through node-llama-cpp's low-level sequence API: the npm
 * package's prebuilt CPU binary (never built or downloaded here), 2
 * threads, greedy (temperature 0), and EOS ignored: `yieldEogToken` hands an
 * end-of-generation token back like any other and evaluation goes on with
 * it. Each evaluate() step decodes one token per sequence; sequences
 * evaluated at the same time share one llama_decode batch.
 */
import { type LlamaContextSequence, LlamaLogLevel, getLlama } from "node-llama-cpp";
import { type Sample, WARMUP, type Workload, batchPrompts, peakRssBytes, promptTokens } from "../workload.js";

export const LLAMA_THREADS = 2;

interface Timed {
  readonly startedAt: number;
  /** performance.now() at each new token. */
  readonly times: number[];
  readonly tokens: number[];
}

async function evaluateTimed(seq: LlamaContextSequence, prompt: readonly number[], newTokens: number): Promise<Timed> {
  const startedAt = performance.now();
  const times: number[] = [];
  const tokens: number[] = [];
  for await (const token of seq.evaluate(prompt as number[] as Parameters<LlamaContextSequence["evaluate"]>[0], { temperature: 0, yieldEogToken: true })) {
    times.push(performance.now());
    tokens.push(token as number);
    if (tokens.length === newTokens) break;
  }
  await seq.clearHistory();
  if (tokens.length !== newTokens) throw new Error(`llama.cpp generated ${tokens.length} tokens, asked for ${newTokens}`);
  return { startedAt, times, tokens };
}

export async function measureLlamaCpp(file: string, w: Workload, positions: number): Promise<Sample> {
  const started = performance.now();
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const sequences = Math.max(1, w.batch);
  const context = await model.createContext({
    contextSize: positions,
    sequences,
    threads: LLAMA_THREADS,
    batchSize: Math.max(512, w.longPrompt, w.batch * w.shortPrompt),
  });
  const loadMs = performance.now() - started;
  try {
    const seqs = Array.from({ length: sequences }, () => context.getSequence());
    const main = seqs[0]!;
    await evaluateTimed(main, promptTokens(WARMUP.prompt, 99), WARMUP.newTokens);

    const single = await evaluateTimed(main, promptTokens(w.shortPrompt), w.decodeTokens);
    const t = single.times;

    let batchDecode: number | null = null;
    if (w.batch > 0) {
      const prompts = batchPrompts(w);
      const runs = await Promise.all(seqs.map((s, i) => evaluateTimed(s, prompts[i]!, w.batchDecodeTokens)));
      const firstDone = Math.max(...runs.map((r) => r.times[0]!));
      const lastDone = Math.max(...runs.map((r) => r.times[r.times.length - 1]!));
      batchDecode = (w.batch * (w.batchDecodeTokens - 1) * 1000) / (lastDone - firstDone);
    }
    let prefillLong: number | null = null;
    if (w.longPrompt > 0) {
      const l = await evaluateTimed(main, promptTokens(w.longPrompt), 1);
      prefillLong = (w.longPrompt * 1000) / (l.times[0]! - l.startedAt);
    }
    return {
      loadMs,
      ttftMs: t[0]! - single.startedAt,
      prefillShort: (w.shortPrompt * 1000) / (t[0]! - single.startedAt),
      prefillLong,
      decode: ((w.decodeTokens - 1) * 1000) / (t[t.length - 1]! - t[0]!),
      batchDecode,
      peakRssBytes: peakRssBytes(),
      tokens: single.tokens,
    };
  } finally {
    await context.dispose();
    await model.dispose();
    await llama.dispose();
  }
}
