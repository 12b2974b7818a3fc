import { type Rule, defineRule } from "../../rewrite/rule.js";
import type { BlockQuantSpec } from "./block-quantize.js";
import { checkConstantMatMul } from "./constant-matmul.js";
import { blockInitializers } from "./quantized-initializers.js";

export interface MatMulNBitsOptions extends BlockQuantSpec {
  /** MatMulNBits' accuracy_level: 0 computes in f32; 4 quantizes the activations to int8 blocks too (faster, less exact). */
  readonly accuracyLevel: number;
}

/**
 * MatMul(x, W) with W a constant f32 [K, N] matrix -> com.microsoft
 * MatMulNBits(x, B, scales[, zero_points]) with W quantized to `bits` in
 * blocks along K (see block-quantize.ts). The merged QKV and gate/up
 * weights quantize like any other; the quantized bytes are made from the
 * weight only when the model is written.
 */
export function matMulNBitsRule(options: MatMulNBitsOptions): Rule {
  const { bits, blockSize, symmetric, accuracyLevel } = options;
  return defineRule({
    name: `matmul-nbits-int${bits}`,
    vars: ["x", "w"],
    pattern: (p, { x, w }) => p.op("MatMul", [x, w]),
    check: (m) => checkConstantMatMul(m.vars.x, m.vars.w),
    rewrite: (b, { x, w, k, n }) => {
      const q = blockInitializers(b, w, "in-out", { bits, blockSize, symmetric }, "matmul-nbits");
      const inputs = q.zeroPoints === null ? [x, q.packed, q.scales] : [x, q.packed, q.scales, q.zeroPoints];
      return b.op("MatMulNBits", inputs, {
        attrs: { K: k, N: n, bits, block_size: blockSize, accuracy_level: accuracyLevel },
        name: `${w.name}/MatMulNBits`,
      });
    },
  });
}
