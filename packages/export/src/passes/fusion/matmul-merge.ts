import { dtypeSize } from "@oar/tensor";
import type { RewriteBuilder } from "../../ir/builder.js";
import type { ByteSource, Initializer } from "../../ir/initializer.js";
import type { Shape } from "../../ir/shape.js";
import type { Value } from "../../ir/value.js";
import { type CheckResult, accept, defineRule, noMatch, reject } from "../../rewrite/rule.js";
import { constantNumbers } from "../../ir/constant.js";
import type { Node } from "../../ir/node.js";
import { isLastAxis, rankOf } from "./match-helpers.js";

/*
 * Projections of one input merged into one product: q/k/v (three MatMuls
 * of the normed hidden state) and gate/up (two). The weights [in, out_i]
 * become one [in, sum out_i] initializer whose bytes are the originals'
 * columns side by side, read only when the model is written (or quantized);
 * a Split on the last axis gives each projection back. Biases added to the
 * Split's outputs merge the same way, so a merged projection is one MatMul,
 * one Add and one Split.
 */

interface MergePayload {
  readonly x: Value;
  readonly weights: readonly Initializer[];
  readonly names: readonly string[];
  readonly outputs: readonly Value[];
  /** order[j]: the pattern output that becomes merged part j. */
  readonly order: readonly number[];
}

/** Constant [in, out_i] weights of one input size and dtype, put in graph order; a merge of anything else is not this rule's. */
function checkMerge(x: Value, weights: readonly Value[], outputs: readonly Value[]): CheckResult<MergePayload> {
  const inits = weights.map((w) => w.initializer);
  if (inits.some((i) => i === null || i.shape.length !== 2)) return noMatch();
  const first = inits[0]!;
  if (inits.some((i) => i!.shape[0] !== first.shape[0] || i!.dtype !== first.dtype)) {
    return reject(`weights ${weights.map((w) => w.describe()).join(", ")} differ in input size or dtype`);
  }
  const order = graphOrder(outputs);
  return accept({
    x,
    weights: order.map((i) => inits[i]!),
    names: order.map((i) => weights[i]!.name),
    outputs: order.map((i) => outputs[i]!),
    order,
  });
}

/** One MatMul by the weights side by side, then a Split giving each pattern output back. */
function rewriteMerge(b: RewriteBuilder, { x, weights, names, outputs, order }: MergePayload): Value[] {
  const name = mergedName(names);
  const merged = b.initializer(concatColumns(weights), { name });
  const product = b.op("MatMul", [x, merged], { name: `${name}/MatMul` });
  const parts = splitLastAxis(b, product, weights.map((w) => w.shape[1]!), outputs);
  return inverse(order).map((j) => parts[j]!);
}

/**
 * q/k/v: three MatMuls of one input by constant [in, out_i] weights -> one
 * MatMul by the weights side by side, then Split. The parts are in graph
 * order (q, k, v as the model computes them), whichever MatMul the match
 * started from.
 */
export const qkvMergeRule = defineRule({
  name: "qkv-merge",
  vars: ["x", "w0", "w1", "w2"],
  pattern: (p, { x, w0, w1, w2 }) => [p.op("MatMul", [x, w0]), p.op("MatMul", [x, w1]), p.op("MatMul", [x, w2])],
  check: (m) => checkMerge(m.vars.x, [m.vars.w0, m.vars.w1, m.vars.w2], m.outputs),
  rewrite: rewriteMerge,
});

/** gate/up: two MatMuls of one input -> one MatMul, then Split. Run after qkv-merge, so it never takes two of q, k and v. */
export const gateUpMergeRule = defineRule({
  name: "gate-up-merge",
  vars: ["x", "w0", "w1"],
  pattern: (p, { x, w0, w1 }) => [p.op("MatMul", [x, w0]), p.op("MatMul", [x, w1])],
  check: (m) => checkMerge(m.vars.x, [m.vars.w0, m.vars.w1], m.outputs),
  rewrite: rewriteMerge,
});

interface BiasPayload {
  readonly y: Value;
  readonly biases: readonly Initializer[];
  readonly names: readonly string[];
  readonly sizes: readonly number[];
  readonly outputs: readonly Value[];
}

/** A last-axis Split with constant sizes whose every output gets a constant bias vector of its size. */
function checkBiases(y: Value, split: Node, biases: readonly Value[], outputs: readonly Value[]): CheckResult<BiasPayload> {
  const rank = rankOf(y);
  const sizesInput = split.inputs[1] ?? null;
  const sizes = sizesInput === null ? null : constantNumbers(sizesInput);
  if (rank === null || !isLastAxis(split, "axis", 0, rank) || sizes === null || sizes.length !== biases.length) return noMatch();
  for (const [i, bias] of biases.entries()) {
    const init = bias.initializer;
    if (init === null || init.shape.length !== 1 || init.shape[0] !== sizes[i] || init.dtype !== y.dtype) {
      return reject(`bias ${bias.describe()} is not a constant vector of the ${sizes[i]} features of ${split.describe()} output ${i}`);
    }
  }
  return accept({ y, biases: biases.map((b) => b.initializer!), names: biases.map((b) => b.name), sizes, outputs });
}

function rewriteBiases(b: RewriteBuilder, { y, biases, names, sizes, outputs }: BiasPayload): Value[] {
  const name = mergedName(names);
  const bias = b.initializer(concatColumns(biases), { name });
  return splitLastAxis(b, b.op("Add", [y, bias], { name: `${name}/Add` }), sizes, outputs);
}

/** Split(y) into q, k, v, each plus a constant bias -> Split(y + the biases side by side). */
export const qkvBiasMergeRule = defineRule({
  name: "qkv-bias-merge",
  vars: ["y", "b0", "b1", "b2", "split"],
  pattern: (p, { y, b0, b1, b2, split }) => {
    const [s0, s1, s2] = p.opOutputs("Split", [y, p.any()], { outputs: 3, as: [split] });
    return [p.op("Add", [s0!, b0]), p.op("Add", [s1!, b1]), p.op("Add", [s2!, b2])];
  },
  check: (m) => checkBiases(m.vars.y, m.node("split"), [m.vars.b0, m.vars.b1, m.vars.b2], m.outputs),
  rewrite: rewriteBiases,
});

/** The same for a two-way Split (gate/up of an MLP with bias). */
export const gateUpBiasMergeRule = defineRule({
  name: "gate-up-bias-merge",
  vars: ["y", "b0", "b1", "split"],
  pattern: (p, { y, b0, b1, split }) => {
    const [s0, s1] = p.opOutputs("Split", [y, p.any()], { outputs: 2, as: [split] });
    return [p.op("Add", [s0!, b0]), p.op("Add", [s1!, b1])];
  },
  check: (m) => checkBiases(m.vars.y, m.node("split"), [m.vars.b0, m.vars.b1], m.outputs),
  rewrite: rewriteBiases,
});

/** Split(x) on the last axis into `sizes`; each output typed like the value it replaces. */
function splitLastAxis(b: RewriteBuilder, x: Value, sizes: readonly number[], like: readonly Value[]): Value[] {
  const split = b.node("Split", [x, b.int64s(sizes)], { attrs: { axis: -1 }, outputs: sizes.length, name: "Split" });
  return like.map((old, i) => {
    const out = split.output(i);
    out.dtype = old.dtype;
    out.shape = old.shape === undefined ? undefined : ([...old.shape] as Shape);
    return out;
  });
}

/** The indices of `values` sorted by where their producers stand in the graph. */
function graphOrder(values: readonly Value[]): number[] {
  const nodes = values[0]!.graph.nodes;
  const at = new Map(nodes.map((n, i) => [n, i]));
  const key = (v: Value) => at.get(v.node!) ?? 0;
  return values.map((_, i) => i).sort((a, b) => key(values[a]!) - key(values[b]!));
}

/** The inverse of a permutation. */
function inverse(order: readonly number[]): number[] {
  const out = new Array<number>(order.length);
  order.forEach((from, to) => (out[from] = to));
  return out;
}

/** "model.layers.0.mlp.gate_proj+up_proj" from the names of the merged weights. */
function mergedName(names: readonly string[]): string {
  const first = names[0]!;
  let common = first.length;
  for (const n of names) {
    let i = 0;
    while (i < common && i < n.length && n[i] === first[i]) i++;
    common = i;
  }
  const cut = first.lastIndexOf(".", common - 1) + 1;
  return first.slice(0, cut) + names.map((n) => n.slice(cut).split(".")[0]).join("+");
}

/**
 * Matrices [rows, cols_i] (or vectors [cols_i], as one row) side by side:
 * [rows, sum cols_i], lazy. Each part is read whole when the bytes are
 * asked for, then the rows are interleaved a block at a time.
 */
function concatColumns(parts: readonly Initializer[]): { dtype: Initializer["dtype"]; shape: number[]; source: ByteSource } {
  const dtype = parts[0]!.dtype;
  const matrix = parts[0]!.shape.length === 2;
  const rows = matrix ? parts[0]!.shape[0]! : 1;
  const widths = parts.map((p) => p.shape[p.shape.length - 1]!);
  const total = widths.reduce((s, w) => s + w, 0);
  const size = dtypeSize(dtype);
  const rowBytes = total * size;
  const rowsPerChunk = Math.max(1, Math.floor((16 << 20) / Math.max(1, rowBytes)));
  return {
    dtype,
    shape: matrix ? [rows, total] : [total],
    source: {
      description: `columns side by side of ${parts.map((p) => p.description).join("; ")}`,
      *chunks() {
        const data = parts.map((p) => p.bytes());
        for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
          const n = Math.min(rowsPerChunk, rows - r0);
          const out = new Uint8Array(n * rowBytes);
          for (let r = 0; r < n; r++) {
            let at = r * rowBytes;
            for (const [i, d] of data.entries()) {
              const w = widths[i]! * size;
              out.set(d.subarray((r0 + r) * w, (r0 + r + 1) * w), at);
              at += w;
            }
          }
          yield out;
        }
      },
    },
  };
}
