/**
 * Why a sequence stopped: "eos" it produced an end-of-sequence id, "length"
 * it reached its max new tokens, "stop" its text reached a stop string,
 * "abort" it was aborted (the engine's RequestHandle.abort).
 */
export type FinishReason = "eos" | "length" | "stop" | "abort";

/** Options that say when a sequence stops. */
export interface StoppingOptions {
  /**
   * New tokens at most (PaddleNLP's `--max_length`, which counts new tokens).
   * The scheduler may lower it for a long prompt; see GenerationResult.
   */
  readonly maxNewTokens: number;
  /**
   * Every id that ends a sequence: the tokenizer's eos plus generation_config's
   * list (Qwen2-Instruct: 151645 `<|im_end|>` and 151643 `<|endoftext|>`).
   */
  readonly eosTokenIds?: readonly number[];
  /** Generate exactly maxNewTokens, EOS ids included (benchmarks). Default false. */
  readonly ignoreEos?: boolean;
}

/** The token-level stop rules of one sequence. */
export interface StoppingCriteria {
  /**
   * Whether to stop after `tokenId` was chosen as new token number `count`
   * (1-based). "eos": drop the token and stop; "length": keep it and stop.
   */
  check(tokenId: number, count: number): "eos" | "length" | null;
}

export function createStoppingCriteria(options: StoppingOptions): StoppingCriteria {
  const { maxNewTokens } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) {
    throw new Error(`max_length (max new tokens) must be an integer >= 1, got ${maxNewTokens}`);
  }
  const eos = new Set(options.eosTokenIds ?? []);
  for (const id of eos) {
    if (!(Number.isInteger(id) && id >= 0)) {
      throw new Error(`eos token ids must be integers >= 0, got ${id}`);
    }
  }
  if (options.ignoreEos) eos.clear();
  return {
    check: (tokenId, count) => {
      if (eos.has(tokenId)) return "eos";
      return count >= maxNewTokens ? "length" : null;
    },
  };
}
