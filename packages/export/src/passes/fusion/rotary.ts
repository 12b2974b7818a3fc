import type { RewriteBuilder } from "../../ir/builder.js";
import { constantValue, tensorNumbers } from "../../ir/constant.js";
import type { Graph } from "../../ir/graph.js";
import type { Node } from "../../ir/node.js";
import type { OpType } from "../../ir/ops.js";
import type { Value } from "../../ir/value.js";
import { type Rule, accept, defineRule, noMatch, reject } from "../../rewrite/rule.js";
import { halfOf, headSplit, isLastAxis, lastDim, producedBy, rankOf } from "./match-helpers.js";

export interface RotaryOptions {
  /** Rows of the cos/sin caches: positions 0 .. maxPositions-1 can be rotated (the model's max_position_embeddings). */
  readonly maxPositions: number;
}

/** Ops the angle computation pos * inv_freq may be written with, besides its two leaves. */
const ANGLE_OPS: ReadonlySet<OpType> = new Set(["Mul", "MatMul", "Cast", "Unsqueeze", "Reshape", "Transpose", "Expand", "Identity"]);
/** Ops allowed between Cos/Sin and the [batch, 1, sequence, head_dim] table the rotation multiplies by. */
const TABLE_OPS: ReadonlySet<OpType> = new Set(["Unsqueeze", "Reshape", "Cast", "Identity"]);

/**
 * Rotate-half rotary embedding (Hugging Face's non-interleaved layout),
 * x*cos + rotate_half(x)*sin on x [batch, heads, sequence, head_dim], with
 * rotate_half(x) = Concat(-x2, x1) of the two halves of the last axis
 * (Slices or a Split) and cos/sin computed in the graph from the position
 * ids: Cos/Sin of Concat(f, f), f = positions * inv_freq. Becomes
 * com.microsoft RotaryEmbedding(x, position_ids, cos_cache, sin_cache)
 * with caches [maxPositions, head_dim/2] computed from the matched inv_freq
 * (shared by every layer). When x is the head split of a [batch, sequence,
 * heads*head_dim] tensor, the rotation is applied to that tensor (num_heads
 * set) and the split follows it, the form GroupQueryAttention takes.
 */
export function rotaryRule(options: RotaryOptions): Rule {
  if (!Number.isSafeInteger(options.maxPositions) || options.maxPositions < 1) {
    throw new Error(`rotary fusion: maxPositions must be a positive integer, got ${options.maxPositions}`);
  }
  return defineRule({
    name: "rotary-embedding",
    vars: ["x", "cos", "sin", "first", "second", "rotated"],
    pattern: (p, { x, cos, sin, first, second, rotated }) =>
      p.op("Add", [p.op("Mul", [x, cos]), p.op("Mul", [p.op("Concat", [p.op("Neg", [second]), first], { as: rotated }), sin])]),
    check: (m) => {
      const { x, cos, sin, first, second } = m.vars;
      const rank = rankOf(x);
      const headDim = lastDim(x);
      if (rank !== 4 || headDim === null || !isLastAxis(m.node("rotated"), "axis", 0, rank)) return noMatch();
      if (!halfOf(first, x, 0) || !halfOf(second, x, 1)) return noMatch();
      if (x.dtype !== "f32") return reject(`rotary input ${x.describe()} is not f32 (the caches are made in f32)`);
      const cosAngles = trigonometricSource(cos, "Cos");
      const sinAngles = trigonometricSource(sin, "Sin");
      if (cosAngles === null || sinAngles === null) return reject("cos and sin are not Cos and Sin of the angles, unsqueezed to [batch, 1, sequence, head_dim]");
      if (cosAngles !== sinAngles) return reject("cos and sin are computed from different angles");
      const angles = rotaryAngles(cosAngles, headDim);
      if (typeof angles === "string") return reject(angles);
      const split = headSplit(x);
      return accept({
        x,
        positions: angles.positions,
        invFreq: angles.invFreq,
        maxPositions: options.maxPositions,
        split,
      });
    },
    rewrite: (b, { x, positions, invFreq, maxPositions, split }) => {
      const { cos, sin } = rotaryCaches(b, invFreq, maxPositions);
      if (split === null) return b.op("RotaryEmbedding", [x, positions, cos, sin], { attrs: { interleaved: 0 }, name: "RotaryEmbedding" });
      const rotated = b.op("RotaryEmbedding", [split.x, positions, cos, sin], {
        attrs: { interleaved: 0, num_heads: split.heads },
        name: "RotaryEmbedding",
      });
      const heads = b.op("Reshape", [rotated, split.shape], { name: "RotaryEmbedding/heads" });
      return b.op("Transpose", [heads], { attrs: { perm: [0, 2, 1, 3] }, name: "RotaryEmbedding/transpose" });
    },
  });
}

/** The value `fn` (Cos or Sin) is taken of, through the reshapes between it and `table`; null when `table` is not that. */
function trigonometricSource(table: Value, fn: "Cos" | "Sin"): Value | null {
  let v = table;
  for (let n = v.node; n !== null && !n.is(fn); n = v.node) {
    if (!TABLE_OPS.has(n.opType as OpType)) return null;
    v = n.input(0);
  }
  return v.node === null ? null : v.node.input(0);
}

/**
 * What the angles [.., head_dim] are made of: Concat(f, f) on the last axis
 * (the non-interleaved layout), f = positions * inv_freq written with
 * ANGLE_OPS, whose only leaves are the integer position ids [batch,
 * sequence] (through one Cast to float), one float constant of head_dim/2
 * elements (inv_freq) and integer shape constants. A sentence saying what
 * differs otherwise.
 */
function rotaryAngles(angles: Value, headDim: number): { positions: Value; invFreq: Float32Array } | string {
  const concat = producedBy(angles, "Concat");
  const rank = rankOf(angles);
  if (concat === null || rank === null || concat.inputs.length !== 2 || concat.input(0) !== concat.input(1) || !isLastAxis(concat, "axis", 0, rank)) {
    return "the angles are not Concat(f, f) on the last axis (interleaved rotary is not fused)";
  }
  let positions: Value | null = null;
  let invFreq: Float32Array | null = null;
  const seen = new Set<Node>();
  const stack: Value[] = [concat.input(0)];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const constant = constantValue(v, { maxBytes: 1 << 20 });
    if (constant !== null) {
      if (constant.dtype === "i64" || constant.dtype === "i32") continue;
      if (constant.dtype !== "f32" || constant.data.length !== headDim / 2 || invFreq !== null) {
        return `the angles read a float constant ${v.describe()} other than one inv_freq of ${headDim / 2} elements`;
      }
      invFreq = Float32Array.from(tensorNumbers(constant));
      continue;
    }
    const n = v.node;
    if (n === null) return `the angles read ${v.describe()}, which is not the position ids through a Cast`;
    if (seen.has(n)) continue;
    seen.add(n);
    if (!ANGLE_OPS.has(n.opType as OpType)) return `the angles are computed with ${n.describe()}, not only ${[...ANGLE_OPS].join("/")}`;
    const source = n.is("Cast") ? n.input(0) : null;
    if (source !== null && source.initializer === null && (source.dtype === "i64" || source.dtype === "i32")) {
      if (positions !== null && positions !== source) return "the angles read two different position tensors";
      positions = source;
      continue;
    }
    for (const input of n.inputs) if (input !== null) stack.push(input);
  }
  if (positions === null || invFreq === null) return "the angles do not read both the position ids and an inv_freq constant";
  if (positions.dtype !== "i64" || rankOf(positions) !== 2) return `the position ids ${positions.describe()} are not int64 [batch, sequence]`;
  return { positions, invFreq };
}

/** Caches already made in a graph, by inv_freq and row count: every layer shares one pair. */
const madeCaches = new WeakMap<Graph, Map<string, { readonly cos: Value; readonly sin: Value }>>();

/**
 * cos and sin caches [maxPositions, head_dim/2]: cos(p * inv_freq[i]) with
 * the product rounded to f32 first, as the primitive graph computes it in
 * f32. Lazy: made when the model is written.
 */
function rotaryCaches(b: RewriteBuilder, invFreq: Float32Array, maxPositions: number): { cos: Value; sin: Value } {
  const key = `${maxPositions}:${Array.from(invFreq).join(",")}`;
  let byKey = madeCaches.get(b.graph);
  if (byKey === undefined) {
    byKey = new Map();
    madeCaches.set(b.graph, byKey);
  }
  const made = byKey.get(key);
  if (made !== undefined && b.graph.contains(made.cos) && b.graph.contains(made.sin)) return made;
  const half = invFreq.length;
  const table = (fn: (a: number) => number, what: string) =>
    b.initializer(
      {
        dtype: "f32",
        shape: [maxPositions, half],
        source: {
          description: `rotary ${what} cache [${maxPositions}, ${half}]`,
          *chunks() {
            const rows = 4096;
            for (let p0 = 0; p0 < maxPositions; p0 += rows) {
              const n = Math.min(rows, maxPositions - p0);
              const out = new Float32Array(n * half);
              for (let r = 0; r < n; r++) for (let i = 0; i < half; i++) out[r * half + i] = fn(Math.fround((p0 + r) * invFreq[i]!));
              yield new Uint8Array(out.buffer);
            }
          },
        },
      },
      { name: `rotary_${what}_cache` },
    );
  const caches = { cos: table(Math.cos, "cos"), sin: table(Math.sin, "sin") };
  byKey.set(key, caches);
  return caches;
}
