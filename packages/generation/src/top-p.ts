import type { LogitsProcessor } from "./logits-processor.js";
import { maxLogit, softmaxWeights } from "./softmax.js";

/**
 * Nucleus filtering: keeps the smallest set of most likely tokens whose
 * probabilities add up to at least `topP`, and sets the rest to -Infinity.
 * In order of decreasing logit (ties: lower id first), a token is kept when
 * the probability of the tokens before it is below `topP`; so the token that
 * crosses `topP` is kept, and the most likely token always is (Hugging Face's
 * TopPLogitsWarper and PaddleNLP's TopPProcess, min_tokens_to_keep = 1).
 *
 * @param topP in (0, 1]; 1 turns the filter off (PaddleNLP's `--top_p`)
 */
export function topPProcessor(topP: number): LogitsProcessor {
  if (!(topP > 0 && topP <= 1)) {
    throw new Error(`top_p must be in (0, 1], got ${topP}`);
  }
  // Reused between calls (processors are synchronous): per-token allocations
  // of vocabulary size cost more than the filtering.
  let weights = new Float64Array(0); // [vocab] exp(logit - max)
  let bins = new Uint16Array(0); // [vocab] bin of each token
  const binMass = new Float64Array(BIN_COUNT); // [bins] sum of weights
  return (logits) => {
    if (topP === 1) return;
    if (weights.length < logits.length) {
      weights = new Float64Array(logits.length);
      bins = new Uint16Array(logits.length);
    }
    keepNucleus(logits, topP, weights, bins, binMass);
  };
}

// Sorting a 150k-token vocabulary on every step costs tens of milliseconds, so
// tokens are first put in bins by how far their logit is below the maximum;
// only the bin where the cumulative probability crosses top_p is sorted.
// Every token of an earlier bin is more likely than every token of the
// crossing bin, so the kept set is the one a full sort gives.
const BINS_PER_LOGIT = 16;
const BIN_COUNT = 32 * BINS_PER_LOGIT + 1; // the last bin holds everything below max - 32

function keepNucleus(
  logits: Float32Array,
  topP: number,
  weights: Float64Array,
  bins: Uint16Array,
  binMass: Float64Array,
): void {
  const total = softmaxWeights(logits, weights);
  const max = maxLogit(logits);
  binMass.fill(0);
  for (let i = 0; i < logits.length; i++) {
    const bin = Math.min(BIN_COUNT - 1, Math.floor((max - logits[i]!) * BINS_PER_LOGIT));
    bins[i] = bin;
    binMass[bin]! += weights[i]!;
  }
  const target = topP * total;
  let before = 0;
  let crossing = 0;
  while (crossing < BIN_COUNT && before + binMass[crossing]! < target) {
    before += binMass[crossing]!;
    crossing++;
  }
  if (crossing === BIN_COUNT) return;

  const members: number[] = [];
  for (let i = 0; i < logits.length; i++) if (bins[i] === crossing) members.push(i);
  members.sort((a, b) => logits[b]! - logits[a]! || a - b);
  let cumulative = before;
  for (const id of members) {
    if (cumulative < target) cumulative += weights[id]!;
    else logits[id] = -Infinity;
  }
  for (let i = 0; i < logits.length; i++) if (bins[i]! > crossing) logits[i] = -Infinity;
}
