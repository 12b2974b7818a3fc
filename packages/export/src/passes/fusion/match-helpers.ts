import { constantNumbers } from "../../ir/constant.js";
import type { Node } from "../../ir/node.js";
import type { OpType } from "../../ir/ops.js";
import type { Dim } from "../../ir/shape.js";
import type { Value } from "../../ir/value.js";

/*
 * Small readers the fusion rules' `check`s share: what produced a value,
 * and what a node's constant operands and attributes say, normalized the
 * way every exporter may write them (axes as an attribute or an input,
 * negative or positive).
 */

/** The node of op `op` producing `v`, or null. */
export function producedBy(v: Value | null | undefined, op: OpType): Node | null {
  const n = v?.node ?? null;
  return n !== null && n.is(op) ? n : null;
}

/** `axis` of a tensor of `rank` as a non-negative index, or null when it is out of range. */
export function normalizeAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : null;
}

/** The rank of `v`, when its shape is known. */
export function rankOf(v: Value): number | null {
  return v.shape === undefined ? null : v.shape.length;
}

/** The last dimension of `v` when it is a known number. */
export function lastDim(v: Value): number | null {
  const d: Dim | undefined = v.shape?.[v.shape.length - 1];
  return typeof d === "number" ? d : null;
}

/** Dimension `i` of `v` when it is a known number (negative counts from the end). */
export function dimOf(v: Value, i: number): number | null {
  const s = v.shape;
  if (s === undefined) return null;
  const d = s[i < 0 ? s.length + i : i];
  return typeof d === "number" ? d : null;
}

/** Whether a Transpose has exactly this permutation. */
export function hasPerm(node: Node, perm: readonly number[]): boolean {
  const a = node.attribute("perm");
  return a?.type === "ints" && a.value.length === perm.length && a.value.every((p, i) => p === perm[i]);
}

/** The axes a reduction reads (attribute before opset 18, second input after), or null when they are not constant. */
function reductionAxes(node: Node): number[] | null {
  const input = node.inputs[1] ?? null;
  if (input !== null) return constantNumbers(input);
  const a = node.attribute("axes");
  return a?.type === "ints" ? [...a.value] : [];
}

/** Whether `node` (a ReduceMean, ...) reduces only the last axis of its rank-`rank` input and keeps it. */
export function reducesLastAxisKeepingIt(node: Node, rank: number): boolean {
  const axes = reductionAxes(node);
  return axes !== null && axes.length === 1 && normalizeAxis(axes[0]!, rank) === rank - 1 && node.int("keepdims", 1) === 1;
}

/** Whether a node's int attribute `name` (default `fallback`) names the last axis of a rank-`rank` tensor. */
export function isLastAxis(node: Node, name: string, fallback: number, rank: number): boolean {
  return normalizeAxis(node.int(name, fallback), rank) === rank - 1;
}

/**
 * `x` split into heads: Transpose(Reshape(x, [., ., heads, head_dim]),
 * perm [0, 2, 1, 3]) with x [batch, sequence, heads*head_dim]. Returns x,
 * the head counts and the Reshape's target, or null when `v` is not that.
 */
export function headSplit(v: Value): { readonly x: Value; readonly heads: number; readonly headDim: number; readonly shape: Value } | null {
  const t = producedBy(v, "Transpose");
  if (t === null || !hasPerm(t, [0, 2, 1, 3])) return null;
  const r = producedBy(t.input(0), "Reshape");
  if (r === null) return null;
  const x = r.input(0);
  const split = r.output();
  const heads = dimOf(split, 2);
  const headDim = dimOf(split, 3);
  if (rankOf(x) !== 3 || rankOf(split) !== 4 || heads === null || headDim === null) return null;
  const width = lastDim(x);
  if (width !== null && width !== heads * headDim) return null;
  return { x, heads, headDim, shape: r.input(1) };
}

/**
 * Whether `v` is the first (0) or second (1) half of `x` along its last axis:
 * Slice(x, [0], [half]) / Slice(x, [half], [end]) (axes given or not), or
 * output 0 / 1 of an even Split of the last axis.
 */
export function halfOf(v: Value, x: Value, which: 0 | 1): boolean {
  const rank = rankOf(x);
  const width = lastDim(x);
  if (rank === null || width === null || width % 2 !== 0) return false;
  const half = width / 2;
  const n = v.node;
  if (n === null) return false;
  if (n.is("Split")) {
    if (n.input(0) !== x || v !== n.outputs[which] || n.outputs.length !== 2 || !isLastAxis(n, "axis", 0, rank)) return false;
    const sizes = n.inputs[1] ?? null;
    if (sizes === null) return true;
    const s = constantNumbers(sizes);
    return s !== null && s.length === 2 && s[0] === half && s[1] === half;
  }
  if (!n.is("Slice") || n.input(0) !== x) return false;
  const starts = constantNumbers(n.input(1));
  const ends = constantNumbers(n.input(2));
  const axesInput = n.inputs[3] ?? null;
  const axes = axesInput === null ? [rank - 1] : constantNumbers(axesInput);
  const stepsInput = n.inputs[4] ?? null;
  const steps = stepsInput === null ? [1] : constantNumbers(stepsInput);
  if (starts?.length !== 1 || ends?.length !== 1 || axes?.length !== 1 || steps?.length !== 1 || steps[0] !== 1) return false;
  if (axesInput === null && rank !== 1) return false;
  if (normalizeAxis(axes[0]!, rank) !== rank - 1) return false;
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + width : i, 0), width);
  const [b, e] = [clamp(starts[0]!), clamp(ends[0]!)];
  return which === 0 ? b === 0 && e === half : b === half && e === width;
}
