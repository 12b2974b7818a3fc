import type { Rng } from "./rng.js";
import { softmaxWeights } from "./softmax.js";

/**
 * Chooses the next token from one processed row of logits.
 *
 * @param logits [vocabSize] after the logits processors
 * @param rng the request's own generator (greedy ignores it)
 */
export type Sampler = (logits: Float32Array, rng: Rng) => number;

/** The token with the largest logit; ties go to the lowest id. */
export const greedy: Sampler = (logits) => {
  let best = -1;
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x > max) {
      max = x;
      best = i;
    } else if (Number.isNaN(x)) {
      throw new Error(`logits hold NaN at token id ${i}`);
    }
  }
  if (best < 0) throw new Error(`logits have no finite entry (row of ${logits.length})`);
  return best;
};

/**
 * A draw from softmax(logits): one `rng.nextFloat()` per token, walked along
 * the cumulative probabilities in id order. Filtered tokens (-Infinity) have
 * probability 0 and are never drawn.
 */
export const sampleMultinomial: Sampler = (logits, rng) => {
  if (scratch.length < logits.length) scratch = new Float64Array(logits.length);
  const weights = scratch;
  const total = softmaxWeights(logits, weights);
  const target = rng.nextFloat() * total;
  let cumulative = 0;
  let last = -1;
  for (let i = 0; i < logits.length; i++) {
    const w = weights[i]!;
    if (w === 0) continue;
    cumulative += w;
    if (target < cumulative) return i;
    last = i;
  }
  // The running sum may end a hair below `total`.
  return last;
};

// Reused between calls (sampling is synchronous) to spare a vocabulary-sized
// allocation per token.
let scratch = new Float64Array(0); // [vocab] softmax weights
