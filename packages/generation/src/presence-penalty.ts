import type { LogitsProcessor } from "./logits-processor.js";

/**
 * OpenAI's presence penalty: subtracts `penalty` once from the logit of every
 * token that appears among the generated tokens (the prompt is not counted,
 * as in OpenAI's formula and vLLM). Positive values push the model towards
 * new tokens, negative ones towards repeating itself.
 *
 * @param penalty in [-2, 2]; 0 turns it off
 */
export function presencePenaltyProcessor(penalty: number): LogitsProcessor {
  if (!(penalty >= -2 && penalty <= 2)) {
    throw new Error(`presence_penalty must be in [-2, 2] (0 turns it off), got ${penalty}`);
  }
  return (logits, tokens, promptLength = 0) => {
    if (penalty === 0) return;
    const seen = new Set<number>();
    for (let i = promptLength; i < tokens.length; i++) {
      const id = tokens[i]!;
      if (seen.has(id)) continue;
      seen.add(id);
      if (!(id >= 0 && id < logits.length)) {
        throw new Error(`presence_penalty: token id ${id} is outside the vocabulary (${logits.length} ids)`);
      }
      logits[id]! -= penalty;
    }
  };
}
