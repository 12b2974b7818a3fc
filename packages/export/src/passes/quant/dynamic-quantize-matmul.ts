import { type Rule, defineRule } from "../../rewrite/rule.js";
import { checkConstantMatMul } from "./constant-matmul.js";
import { channelInitializers } from "./quantized-initializers.js";

/**
 * a8w8: MatMul(x, W) with W a constant f32 [K, N] matrix -> com.microsoft
 * DynamicQuantizeMatMul(x, W8, scales[, zero_points]): W quantized to 8
 * bits per output column (int8 symmetric, or uint8 with a zero point per
 * column), x quantized to uint8 per tensor at run time, an integer product
 * rescaled to f32.
 */
export function dynamicQuantizeMatMulRule(options: { readonly symmetric: boolean }): Rule {
  return defineRule({
    name: "dynamic-quantize-matmul",
    vars: ["x", "w"],
    pattern: (p, { x, w }) => p.op("MatMul", [x, w]),
    check: (m) => checkConstantMatMul(m.vars.x, m.vars.w),
    rewrite: (b, { x, w }) => {
      const q = channelInitializers(b, w, options.symmetric);
      const inputs = q.zeroPoints === null ? [x, q.weight, q.scales] : [x, q.weight, q.scales, q.zeroPoints];
      return b.op("DynamicQuantizeMatMul", inputs, { name: `${w.name}/DynamicQuantizeMatMul` });
    },
  });
}
