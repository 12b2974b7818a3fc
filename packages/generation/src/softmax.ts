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

/**
 * Softmax without the division, in double precision: writes exp(logit - max)
 * of every token into `weights` and returns their sum, so token i has
 * probability weights[i] / sum. Filtered tokens (-Infinity) get weight 0
 * without calling Math.exp, which keeps rows that top-k or top-p cut cheap.
 *
 * @param logits [vocabSize]
 * @param weights [>= vocabSize] written
 */
export function softmaxWeights(logits: Float32Array, weights: Float64Array): number {
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    const w = x === -Infinity ? 0 : Math.exp(x - max);
    weights[i] = w;
    sum += w;
  }
  return sum;
}
