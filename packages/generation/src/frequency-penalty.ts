import type { LogitsProcessor } from "./logits-processor.js";

/**
 * OpenAI's frequency penalty: subtracts `penalty` times the number of times
 * a token was generated from its logit (the prompt is not counted, as in
 * OpenAI's formula and vLLM). Unlike the presence penalty it grows with each
 * repetition.
 *
 * @param penalty in [-2, 2]; 0 turns it off
 */
export function frequencyPenaltyProcessor(penalty: number): LogitsProcessor {
  if (!(penalty >= -2 && penalty <= 2)) {
    throw new Error(`frequency_penalty must be in [-2, 2] (0 turns it off), got ${penalty}`);
  }
  return (logits, tokens, promptLength = 0) => {
    if (penalty === 0) return;
    for (let i = promptLength; i < tokens.length; i++) {
      const id = tokens[i]!;
      if (!(id >= 0 && id < logits.length)) {
        throw new Error(`frequency_penalty: token id ${id} is outside the vocabulary (${logits.length} ids)`);
      }
      logits[id]! -= penalty;
    }
  };
}
