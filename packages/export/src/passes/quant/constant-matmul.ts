import type { Value } from "../../ir/value.js";
import { type CheckResult, accept, noMatch, reject } from "../../rewrite/rule.js";
import { lastDim } from "../fusion/match-helpers.js";

/** A MatMul the weight quantizations take: f32 activations times a constant f32 [K, N] matrix. */
export interface ConstantMatMul {
  readonly x: Value;
  readonly w: Value;
  readonly k: number;
  readonly n: number;
}

/**
 * The check both weight quantizations (MatMulNBits, DynamicQuantizeMatMul)
 * make of MatMul(x, w): no match unless w is a 2-D initializer whose K
 * agrees with x's last dimension where known; a rejection, with the
 * reason, when either side is not f32.
 */
export function checkConstantMatMul(x: Value, w: Value): CheckResult<ConstantMatMul> {
  const init = w.initializer;
  if (init === null || init.shape.length !== 2) return noMatch();
  if (init.dtype !== "f32" || x.dtype !== "f32") return reject(`MatMul ${x.describe()} x ${w.describe()} is not f32`);
  const [k, n] = init.shape as [number, number];
  const width = lastDim(x);
  if (width !== null && width !== k) return noMatch();
  return accept({ x, w, k, n });
}
