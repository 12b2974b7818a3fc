import { assertNever } from "../dtype.js";

/**
 * How a weight matrix is stored in the pool. All are row-major [N, K]
 * (Hugging Face [out, in]):
 * - f32: 4-byte floats.
 * - bf16: raw bfloat16 bits, widened in the kernels.
 * - f16: raw IEEE half bits, widened in the kernels (exact for zero, subnormals
 *   and signs; inf/NaN are not preserved by the kernels, weights hold none).
 * - q8: int8 with an f32 scale per block of `blockSize` along K (w ≈ q * scale).
 */
export type WeightFormat = "f32" | "bf16" | "f16" | "q8";

export const WEIGHT_FORMATS: readonly WeightFormat[] = ["f32", "bf16", "f16", "q8"];

/** The shape and format of a weight, before it has a place in memory. */
export interface WeightSpec {
  format: WeightFormat;
  rows: number; // N
  cols: number; // K
  /** q8 only: K elements per scale; defaults to 32. Ignored for other formats. */
  blockSize?: number;
}

export const DEFAULT_Q8_BLOCK = 32;

/**
 * The q8 kernels turn their exact i32 lane sums into f32 at most this many
 * elements apart: a lane gains at most 2 * 128 * 32767 per 8 elements, so over
 * 512 it stays 4 times below 2^31.
 */
const MAX_Q8_FLUSH = 512;

/** Bytes per stored element (not counting q8 scales). */
export function elementBytes(format: WeightFormat): number {
  switch (format) {
    case "f32":
      return 4;
    case "bf16":
    case "f16":
      return 2;
    case "q8":
      return 1;
    default:
      return assertNever(format);
  }
}

/** A validated spec: blockSize is resolved (0 for non-q8) and the layout sizes computed. */
export interface WeightLayout {
  readonly format: WeightFormat;
  readonly rows: number; // N
  readonly cols: number; // K
  readonly blockSize: number; // q8: K elements per scale; else 0
  readonly dataBytes: number; // rows * cols * elementBytes
  readonly scaleCount: number; // q8: rows * cols / blockSize; else 0
  /** q8: elements between conversions of the i32 sums to f32 (divides blockSize, <= 512); else 0. */
  readonly flush: number;
}

function isPositiveInt(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

/** Checks a spec and resolves its layout; throws with what was expected and what was found. */
export function weightLayout(spec: WeightSpec): WeightLayout {
  const { format, rows, cols } = spec;
  if (!WEIGHT_FORMATS.includes(format)) {
    throw new Error(`weight format must be one of ${WEIGHT_FORMATS.join(", ")}, got ${String(format)}`);
  }
  if (!isPositiveInt(rows) || !isPositiveInt(cols)) {
    throw new Error(`weight shape must be positive integers [rows, cols], got [${rows}, ${cols}]`);
  }
  const dataBytes = rows * cols * elementBytes(format);
  if (format !== "q8") return { format, rows, cols, blockSize: 0, dataBytes, scaleCount: 0, flush: 0 };
  const blockSize = spec.blockSize ?? DEFAULT_Q8_BLOCK;
  if (!isPositiveInt(blockSize) || blockSize % 8 !== 0) {
    throw new Error(`q8 blockSize must be a positive multiple of 8, got ${blockSize}`);
  }
  if (cols % blockSize !== 0) {
    throw new Error(
      `q8 needs cols (K) to be a multiple of blockSize: K = ${cols}, blockSize = ${blockSize}; ` +
        `use blockSize = K for per-channel scales, or keep this weight in f32/f16/bf16`,
    );
  }
  return { format, rows, cols, blockSize, dataBytes, scaleCount: (rows * cols) / blockSize, flush: q8Flush(blockSize) };
}

/** The largest multiple of 8 that divides blockSize (itself a multiple of 8) and is at most MAX_Q8_FLUSH. */
function q8Flush(blockSize: number): number {
  let f = Math.min(blockSize, MAX_Q8_FLUSH);
  while (blockSize % f !== 0) f -= 8;
  return f;
}
