/**
 * Softmax of one logits row, in double precision. Entries at -Infinity (tokens
 * a processor filtered out) get probability 0.
 *
 * @param logits [vocabSize]
 * @returns [vocabSize] probabilities summing to 1
 */
export function softmax(logits: Float32Array): Float64Array {
  const max = maxLogit(logits);
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp(logits[i]! - max);
    probs[i] = p;
    sum += p;
  }
  for (let i = 0; i < probs.length; i++) probs[i]! /= sum;
  return probs;
}

/**
 * The largest logit of a row. Throws when the row holds NaN or +Infinity, or
 * has no finite entry: a broken model, or processors that removed every token.
 */
export function maxLogit(logits: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x > max) max = x;
    else if (Number.isNaN(x)) throw new Error(`logits hold NaN at token id ${i}`);
  }
  if (max === Infinity) throw new Error(`logits hold +Infinity at token id ${logits.indexOf(Infinity)}`);
  if (max === -Infinity) throw new Error(`logits have no finite entry (row of ${logits.length})`);
  return max;
}
