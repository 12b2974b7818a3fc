/**
 * What every configuration is asked to do in one measurement, and what it
 * reports. Prompts are fixed token ids (no tokenizer in the timed path), the
 * same for every engine; generation is greedy with EOS ignored, so each
 * engine produces exactly the tokens asked for.
 */

export interface Workload {
  /** Prompt length for time to first token, prefill and decode (32). */
  readonly shortPrompt: number;
  /** Prompt length of the long prefill (512); 0 skips it. */
  readonly longPrompt: number;
  /** New tokens of the batch-1 decode. */
  readonly decodeTokens: number;
  /** Sequences decoded together (8); 0 skips the batched decode. */
  readonly batch: number;
  /** New tokens per sequence of the batched decode. */
  readonly batchDecodeTokens: number;
}

/** One measurement of one configuration (one child process). Rates are tokens per second. */
export interface Sample {
  /** From nothing loaded to ready to run. */
  readonly loadMs: number;
  /** Prompt of `shortPrompt` tokens to its first new token. */
  readonly ttftMs: number;
  /** shortPrompt / prefill time. */
  readonly prefillShort: number;
  /** longPrompt / prefill time; null when skipped. */
  readonly prefillLong: number | null;
  /** Batch 1: tokens after the first / time after the first. */
  readonly decode: number;
  /** Batch `batch`: all sequences' tokens after their first / decode time; null when skipped. */
  readonly batchDecode: number | null;
  /** The child's peak resident set. */
  readonly peakRssBytes: number;
  /** The batch-1 run's new tokens (greedy), to check engines on one graph agree. */
  readonly tokens: readonly number[];
}

/**
 * Deterministic prompt ids from the ordinary BPE range of the Qwen2
 * vocabulary (no special tokens): sequence `seq` of the batch gets its own.
 */
export function promptTokens(length: number, seq = 0): number[] {
  return Array.from({ length }, (_, i) => 1000 + ((i * 7919 + seq * 104729 + 17) % 100000));
}

/** The prompts of the batched decode. */
export function batchPrompts(w: Workload): number[][] {
  return Array.from({ length: w.batch }, (_, s) => promptTokens(w.shortPrompt, s + 1));
}

/** Warm-up before anything is timed: a short prompt and a few tokens (allocators, thread pools, lazy init). */
export const WARMUP = { prompt: 8, newTokens: 3 } as const;

export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
