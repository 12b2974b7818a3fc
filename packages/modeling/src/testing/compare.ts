/** Largest |a-b| / max(|b|max, tiny) over two logit arrays: one number for "agree to 1e-4 relative". */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - b[i]!));
  return err / Math.max(scale, 1e-12);
}

export function argmax(row: Float32Array, offset = 0, width = row.length - offset): number {
  let best = offset;
  for (let i = offset + 1; i < offset + width; i++) if (row[i]! > row[best]!) best = i;
  return best - offset;
}
