import { maxLogit } from "./softmax.js";

/** A token and its log probability (natural log). */
export interface TokenLogprob {
  readonly tokenId: number;
  readonly logprob: number;
}

/** The chosen token's log probability and the most likely tokens' (OpenAI's `logprobs` / `top_logprobs`). */
export interface TokenLogprobs extends TokenLogprob {
  /** The `top` most likely tokens, most likely first (ties: lower id first). */
  readonly top: readonly TokenLogprob[];
}

/**
 * Log probabilities under softmax(logits), computed in double precision:
 * log p_i = logit_i - (max + log sum exp(logit_j - max)). The engine passes
 * the model's raw row, before penalties, temperature and filters, as vLLM
 * does by default, so the numbers describe the model, not the sampler.
 *
 * @param logits [vocabSize]
 * @param chosen the token whose log probability is reported
 * @param top how many of the most likely tokens to list (0: none)
 */
export function tokenLogprobs(logits: Float32Array, chosen: number, top: number): TokenLogprobs {
  if (!(Number.isInteger(chosen) && chosen >= 0 && chosen < logits.length)) {
    throw new Error(`logprobs: token id ${chosen} is outside the vocabulary (${logits.length} ids)`);
  }
  if (!(Number.isInteger(top) && top >= 0)) throw new Error(`logprobs: the number of top tokens must be an integer >= 0, got ${top}`);
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x !== -Infinity) sum += Math.exp(x - max);
  }
  const logZ = max + Math.log(sum);
  return {
    tokenId: chosen,
    logprob: logits[chosen]! - logZ,
    top: largest(logits, Math.min(top, logits.length)).map((tokenId) => ({ tokenId, logprob: logits[tokenId]! - logZ })),
  };
}

/** Ids of the k largest logits, largest first, ties by lower id: a sorted list of k kept while scanning. */
function largest(logits: Float32Array, k: number): number[] {
  const ids: number[] = [];
  if (k === 0) return ids;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (ids.length === k && !(x > logits[ids[k - 1]!]!)) continue;
    if (ids.length < k) ids.push(i);
    let at = ids.length - 1; // the slot to fill: a new one, or the smallest kept's
    while (at > 0 && logits[ids[at - 1]!]! < x) {
      ids[at] = ids[at - 1]!;
      at--;
    }
    ids[at] = i;
  }
  return ids;
}
