import { constantScalar } from "../../ir/constant.js";
import { isFloatDType } from "../../ir/dtype.js";
import { shapesEqual } from "../../ir/shape.js";
import type { Value } from "../../ir/value.js";
import { accept, defineRule, reject } from "../../rewrite/rule.js";
import { isLastAxis, lastDim, rankOf, reducesLastAxisKeepingIt } from "./match-helpers.js";

/**
 * RMSNorm, x / sqrt(mean(x^2) + eps) * weight over the last axis, in the
 * forms exporters write it: x^2 as Pow(x, 2) or Mul(x, x); ReduceMean with
 * axes as an attribute (opset 17) or an input (18+); the division as
 * Div(x, std), Mul(x, Reciprocal(std)) or Mul(x, Div(1, std)); the weight
 * on either side. Becomes onnxruntime's SimplifiedLayerNormalization (a
 * contrib op it registers in the ai.onnx domain), axis -1, epsilon from
 * the matched constant.
 */
export const rmsNormRule = defineRule({
  name: "rms-norm",
  vars: ["x", "eps", "weight", "mean"],
  pattern: (p, { x, eps, weight, mean }) => {
    const square = p.oneOf(p.op("Pow", [x, 2]), p.op("Mul", [x, x]));
    const meanOp = p.oneOf(p.op("ReduceMean", [square], { as: mean }), p.op("ReduceMean", [square, p.any()], { as: mean }));
    const std = p.op("Sqrt", [p.op("Add", [meanOp, eps])]);
    const normed = p.oneOf(p.op("Div", [x, std]), p.op("Mul", [x, p.op("Reciprocal", [std])]), p.op("Mul", [x, p.op("Div", [1, std])]));
    return p.op("Mul", [normed, weight]);
  },
  check: (m) => {
    const { x, eps, weight } = m.vars;
    const rank = rankOf(x);
    const hidden = lastDim(x);
    if (rank === null || hidden === null) return reject(`the normalized input ${x.describe()} has no known last dimension`);
    if (x.dtype === undefined || !isFloatDType(x.dtype) || weight.dtype !== x.dtype) {
      return reject(`input ${x.describe()} and weight ${weight.describe()} must share one float dtype`);
    }
    if (!reducesLastAxisKeepingIt(m.node("mean"), rank)) return reject("the mean is not over the last axis alone with keepdims=1");
    const epsilon = constantScalar(eps);
    if (epsilon === null || epsilon < 0) return reject(`epsilon ${eps.describe()} is not a non-negative constant scalar`);
    if (!isVectorOf(weight, hidden)) return reject(`the weight ${weight.describe()} is not a vector of the ${hidden} normalized features`);
    return accept({ x, weight, epsilon });
  },
  rewrite: (b, { x, weight, epsilon }) =>
    b.op("SimplifiedLayerNormalization", [x, weight], { attrs: { axis: -1, epsilon, stash_type: 1 }, name: "SimplifiedLayerNorm" }),
});

/**
 * A residual Add feeding an RMSNorm: SimplifiedLayerNormalization(a + b)
 * becomes com.microsoft SkipSimplifiedLayerNormalization(a, b), whose output
 * 3 (a + b) replaces the Add for everything else that reads it: the
 * residual stream the next layer adds to.
 */
export const skipRmsNormRule = defineRule({
  name: "skip-rms-norm",
  vars: ["input", "skip", "weight", "norm"],
  pattern: (p, { input, skip, weight, norm }) => {
    const sum = p.op("Add", [input, skip]);
    return [p.op("SimplifiedLayerNormalization", [sum, weight], { as: norm }), sum];
  },
  check: (m) => {
    const { input, skip, weight } = m.vars;
    const norm = m.node("norm");
    const rank = rankOf(input);
    if (rank === null || rank < 2 || rank > 3) return reject(`input ${input.describe()} is not [batch, sequence, hidden] or [tokens, hidden]`);
    if (!isLastAxis(norm, "axis", -1, rank)) return reject(`${norm.describe()} does not normalize the last axis`);
    if (input.shape === undefined || skip.shape === undefined || !shapesEqual(input.shape, skip.shape)) return reject(`the residual operands ${input.describe()} and ${skip.describe()} do not have one known shape`);
    if (input.dtype !== skip.dtype) return reject(`the residual operands differ in dtype: ${input.describe()}, ${skip.describe()}`);
    return accept({ input, skip, weight, epsilon: norm.float("epsilon", 1e-5) });
  },
  rewrite: (b, { input, skip, weight, epsilon }) => {
    const n = b.node("SkipSimplifiedLayerNormalization", [input, skip, weight], {
      attrs: { epsilon },
      name: "SkipSimplifiedLayerNorm",
      outputs: ["SkipSimplifiedLayerNorm", null, null, "residual"],
    });
    return [n.output(0), n.output(3)];
  },
});

/** Whether `v` has shape [n]. */
function isVectorOf(v: Value, n: number): boolean {
  return v.shape !== undefined && v.shape.length === 1 && v.shape[0] === n;
}
