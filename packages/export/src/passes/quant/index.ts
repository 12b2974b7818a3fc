import type { QuantType } from "../../inference-dir/manifest.js";
import type { Pipeline } from "../../rewrite/manager.js";
import { assertNever } from "@oar/tensor";
import { deadCodeElimination } from "../dead-code.js";
import { type QuantBits, checkBlockSpec } from "./block-quantize.js";
import { dynamicQuantizeMatMulRule } from "./dynamic-quantize-matmul.js";
import { gatherBlockQuantizedRule } from "./gather-block-quantized.js";
import { matMulNBitsRule } from "./matmul-nbits.js";

export type { BlockQuantSpec, QuantBits } from "./block-quantize.js";
export { dynamicQuantizeMatMulRule } from "./dynamic-quantize-matmul.js";
export { type GatherBlockQuantizedOptions, gatherBlockQuantizedRule } from "./gather-block-quantized.js";
export { type MatMulNBitsOptions, matMulNBitsRule } from "./matmul-nbits.js";

export interface QuantizationOptions {
  /** Elements per scale along K for MatMulNBits and the embedding (default 32; a power of two, at least 16). */
  readonly blockSize?: number;
  /** Symmetric (no zero points; default) or with a zero point per block (per column for a8w8). */
  readonly symmetric?: boolean;
  /** MatMulNBits' accuracy_level (default DEFAULT_ACCURACY_LEVEL; CPU kernels exist for 0 and 4). */
  readonly accuracyLevel?: number;
  /** Embedding tables of at least this many f32 bytes are quantized too (default 16 MiB). */
  readonly embeddingMinBytes?: number;
}

/**
 * MatMulNBits' accuracy_level by default: 4, which quantizes the activations
 * to int8 blocks as well and runs integer dot products. Measured at
 * Qwen2-0.5B shapes on this CPU (passes/measure.ts, decode ms/token): int4
 * 32 at level 0, 20 at level 4; int8 2700 at level 0 (onnxruntime has no
 * fast f32 kernel for 8-bit weights) and 30 at level 4. The price is
 * accuracy: on stories260K the mean logit error of int8 grows from 5.4% to
 * 7.0% of the logits' RMS (quant.test.ts prints it). Pass 0 to trade speed
 * for it.
 */
export const DEFAULT_ACCURACY_LEVEL = 4;
const DEFAULT_BLOCK_SIZE = 32;
const DEFAULT_EMBEDDING_MIN_BYTES = 16 << 20;

/**
 * The quantization pipelines for `quantType`: weight-only int8/int4 turn
 * every constant-weight MatMul (merged QKV and gate/up and lm_head included)
 * into MatMulNBits and a large embedding Gather into GatherBlockQuantized;
 * a8w8 turns the MatMuls into DynamicQuantizeMatMul (per-column int8
 * weights, activations quantized at run time) and the embedding into int8
 * blocks. Dead-code elimination then drops the f32 weights.
 */
export function quantizationPipelines(quantType: QuantType, options: QuantizationOptions = {}): Pipeline[] {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const symmetric = options.symmetric ?? true;
  const accuracyLevel = options.accuracyLevel ?? DEFAULT_ACCURACY_LEVEL;
  const minBytes = options.embeddingMinBytes ?? DEFAULT_EMBEDDING_MIN_BYTES;
  checkBlockSpec({ bits: 4, blockSize, symmetric });
  if (![0, 1, 2, 3, 4].includes(accuracyLevel)) throw new Error(`accuracyLevel must be 0, 1, 2, 3 or 4, got ${accuracyLevel}`);
  const weightOnly = (bits: QuantBits): Pipeline => ({
    name: `quantize-weight-only-int${bits}`,
    passes: [
      matMulNBitsRule({ bits, blockSize, symmetric, accuracyLevel }),
      gatherBlockQuantizedRule({ bits, blockSize, symmetric, minBytes }),
      deadCodeElimination,
    ],
  });
  switch (quantType) {
    case "weight_only_int8":
      return [weightOnly(8)];
    case "weight_only_int4":
      return [weightOnly(4)];
    case "a8w8":
      return [
        {
          name: "quantize-a8w8",
          passes: [dynamicQuantizeMatMulRule({ symmetric }), gatherBlockQuantizedRule({ bits: 8, blockSize, symmetric, minBytes }), deadCodeElimination],
        },
      ];
    default:
      return assertNever(quantType);
  }
}
