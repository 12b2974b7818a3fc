import { accept, defineRule, reject } from "../../rewrite/rule.js";

/**
 * SiLU, x * Sigmoid(x) (either operand order), -> com.microsoft
 * QuickGelu(x) with alpha 1, which is x * sigmoid(1 * x): one kernel
 * instead of two and one intermediate less.
 */
export const siluRule = defineRule({
  name: "silu",
  vars: ["x"],
  pattern: (p, { x }) => p.op("Mul", [x, p.op("Sigmoid", [x])]),
  check: (m) => (m.vars.x.dtype === "f32" ? accept(m.vars.x) : reject(`SiLU input ${m.vars.x.describe()} is not f32`)),
  rewrite: (b, x) => b.op("QuickGelu", [x], { attrs: { alpha: 1 }, name: "SiLU" }),
});
