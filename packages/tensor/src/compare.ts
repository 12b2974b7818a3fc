/**
 * Comparing logits: what the tests of every package (and the benches'
 * greedy loops) ask of two outputs.
 */

/** Largest |a-b| over the largest |b| (at least 1e-12): one number for "agree to 1e-4 relative". */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
  }
  return err / Math.max(scale, 1e-12);
}

/**
 * Index of the largest of `width` values starting at `offset` (a row of a
 * [rows, width] array: offset row * width), relative to `offset`; ties go
 * to the lowest index.
 */
export function argmax(values: Float32Array, offset = 0, width = values.length - offset): number {
  let best = offset;
  for (let i = offset + 1; i < offset + width; i++) if (values[i]! > values[best]!) best = i;
  return best - offset;
}
