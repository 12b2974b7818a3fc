import type { LogitsProcessor } from "./logits-processor.js";

/**
 * The CTRL repetition penalty as Hugging Face applies it: for every distinct
 * token already in the sequence (prompt and generated tokens), a positive
 * logit is divided by `penalty` and a negative one multiplied by it, so a
 * penalty above 1 always makes the token less likely. PaddleNLP's
 * RepetitionPenaltyLogitsProcessor applies the same rule.
 *
 * @param penalty a finite number > 0; 1 turns it off (PaddleNLP's `--repetition_penalty`)
 */
export function repetitionPenaltyProcessor(penalty: number): LogitsProcessor {
  if (!(Number.isFinite(penalty) && penalty > 0)) {
    throw new Error(`repetition_penalty must be a finite number > 0 (1 turns it off), got ${penalty}`);
  }
  return (logits, tokens) => {
    if (penalty === 1) return;
    const seen = new Set<number>();
    for (const id of tokens) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (!(id >= 0 && id < logits.length)) {
        throw new Error(`repetition_penalty: token id ${id} is outside the vocabulary (${logits.length} ids)`);
      }
      const logit = logits[id]!;
      logits[id] = logit < 0 ? logit * penalty : logit / penalty;
    }
  };
}
