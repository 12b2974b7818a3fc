import type { LogitsProcessor } from "./logits-processor.js";
import { maxLogit } from "./softmax.js";

/**
 * Min-p filtering (Nguyen et al. 2024; Hugging Face's MinPLogitsWarper,
 * vLLM's `min_p`): keeps the tokens whose probability is at least `minP`
 * times the most likely token's, and sets the rest to -Infinity. In logits,
 * p_i >= minP * p_max is logit_i >= max + ln(minP), so no softmax is needed.
 * The most likely token is always kept.
 *
 * @param minP in [0, 1]; 0 turns the filter off
 */
export function minPProcessor(minP: number): LogitsProcessor {
  if (!(minP >= 0 && minP <= 1)) {
    throw new Error(`min_p must be in [0, 1] (0 turns it off), got ${minP}`);
  }
  const margin = Math.log(minP); // -Infinity for 0: keeps everything
  return (logits) => {
    if (minP === 0) return;
    const threshold = maxLogit(logits) + margin;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i]! < threshold) logits[i] = -Infinity;
    }
  };
}
