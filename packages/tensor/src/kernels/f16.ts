/**
 * Keeping f16 weights free of subnormals.
 *
 * The f16 kernels widen a half exactly by moving its bits into an f32 and
 * multiplying by 2^112. For an f16 subnormal (|w| < 2^-14) that f32 is itself
 * subnormal, and x86 multiplies a subnormal through a microcode assist of
 * about a hundred cycles: measured here, 1% of subnormal weights made the f16
 * kernel 3 times slower, and trained checkpoints hold 0.05-0.5%. Scaling the
 * whole matrix by 2^d in place at load time is exact (a power of two, no value
 * overflows) and turns every subnormal into a normal for d = 10; the kernels
 * then multiply by 2^(112 - d) instead.
 */

/** The largest shift: 2^10 makes the smallest subnormal, 2^-24, the smallest normal, 2^-14. */
const MAX_SHIFT = 10;

/**
 * Scales f16 bits in place by 2^d and returns d: 0 when nothing needs it (no
 * subnormals) or nothing allows it (inf or NaN present, or the largest value
 * already at the top exponent); otherwise the largest d <= 10 that keeps every
 * value finite. With d < 10 the smallest subnormals stay subnormal (correct,
 * only slower); that needs values of 64 or more next to them.
 */
export function normalizeF16(bits: Uint16Array): number {
  let maxExponent = 0;
  let subnormals = false;
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const exponent = (h >> 10) & 0x1f;
    if (exponent === 0x1f) return 0;
    if (exponent > maxExponent) maxExponent = exponent;
    else if (exponent === 0 && (h & 0x3ff) !== 0) subnormals = true;
  }
  const d = Math.min(MAX_SHIFT, 30 - maxExponent);
  if (!subnormals || d <= 0) return 0;
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    if (h & 0x7c00) {
      bits[i] = h + (d << 10);
      continue;
    }
    const mantissa = h & 0x3ff;
    if (mantissa === 0) continue;
    // m * 2^-24 * 2^d: still subnormal below 2^10, else normalize on its top bit p.
    const shifted = mantissa << d;
    const sign = h & 0x8000;
    if (shifted < 0x400) {
      bits[i] = sign | shifted;
      continue;
    }
    const p = 31 - Math.clz32(shifted);
    bits[i] = sign | ((p - 9) << 10) | ((shifted >> (p - 10)) & 0x3ff);
  }
  return d;
}
