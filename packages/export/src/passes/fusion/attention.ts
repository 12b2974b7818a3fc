import { constantNumbers, constantScalar } from "../../ir/constant.js";
import type { Graph } from "../../ir/graph.js";
import type { Value } from "../../ir/value.js";
import type { Pass } from "../../rewrite/rule.js";
import { accept, defineRule, noMatch, reject } from "../../rewrite/rule.js";
import { dimOf, hasPerm, headSplit, isLastAxis, producedBy, rankOf } from "./match-helpers.js";

/** onnxruntime's CPU GroupQueryAttention refuses other head sizes. */
const HEAD_SIZE_MULTIPLE = 16;
/** An additive mask entry at or below this hides a key (Hugging Face uses f32's lowest value). */
const MASKED_AT_MOST = -1e4;

/** K or V over the past and the step: the present Concat, and what GroupQueryAttention reads instead. */
interface KvOperand {
  readonly past: Value; // [batch, kv_heads, past_sequence, head_dim]
  readonly fresh: Value; // [batch, sequence, kv_heads*head_dim]
  readonly kvHeads: number;
  readonly headDim: number;
}

/**
 * The key or value operand of attention: present = Concat(past, head split
 * of x, axis 2), read directly (as many KV heads as query heads) or
 * through Hugging Face's repeat_kv, Reshape(Expand(Unsqueeze(present, 2))).
 */
function kvOperand(v: Value, heads: number): KvOperand | string {
  let present = v;
  if (producedBy(v, "Concat") === null) {
    const reshape = producedBy(v, "Reshape");
    const expand = producedBy(reshape?.input(0), "Expand");
    const unsqueeze = producedBy(expand?.input(0), "Unsqueeze");
    const axes = unsqueeze === null ? null : constantNumbers(unsqueeze.input(1));
    if (unsqueeze === null || axes?.length !== 1 || axes[0] !== 2 || dimOf(v, 1) !== heads) {
      return `${v.describe()} is neither the present K/V nor its KV heads repeated to ${heads} heads`;
    }
    present = unsqueeze.input(0);
  }
  const concat = producedBy(present, "Concat");
  if (concat === null || concat.inputs.length !== 2 || (concat.int("axis") !== 2 && concat.int("axis") !== -2)) {
    return `${present.describe()} is not Concat(past, new) on the sequence axis`;
  }
  const split = headSplit(concat.input(1));
  if (split === null || rankOf(concat.input(0)) !== 4) return `${concat.describe()} does not append the head split of a [batch, sequence, hidden] tensor to a past`;
  return { past: concat.input(0), fresh: split.x, kvHeads: split.heads, headDim: split.headDim };
}

/** How the primitive graph masks scores: a bool mask chosen with Where, or an additive float mask. */
type MaskForm =
  | { readonly kind: "boolean"; readonly mask: Value; readonly fill: number } // bool [batch|1, 1|heads, sequence, total]
  | { readonly kind: "additive"; readonly mask: Value }; // f32 [batch|1, 1|heads, sequence, total]

/**
 * Causal attention over past and present KV, as a primitive graph computes
 * it: MatMul(q, Transpose(K)) scaled (Mul or Div by a constant), masked
 * (Where(mask, scores, fill) or scores + mask), Softmax, MatMul(probs, V),
 * Transpose and Reshape to [batch, sequence, heads*head_dim]; K and V are
 * Concat(past, new) with their KV heads repeated. Becomes
 * com.microsoft GroupQueryAttention(q, k, v, past_key, past_value,
 * seqlens_k, total_sequence_length, -, -, -, attention_bias) whose present
 * outputs replace the Concats (see `attentionPresentRule`).
 *
 * Padding stays the primitive graph's own: the mask becomes the additive
 * attention_bias [batch, 1, sequence, total], and seqlens_k is
 * total_sequence_length - 1 for every row (each row's KV spans the whole
 * width, padding included), so GroupQueryAttention neither writes nor reads
 * the cache by per-row lengths. Left padding, as attention_mask carries it,
 * therefore means what it means in the primitive graph. Rotary stays a
 * RotaryEmbedding before this op (position ids honoured per token).
 *
 * Declined, with the reason reported: head sizes that are not a multiple
 * of 16 (onnxruntime's CPU kernel refuses them; the attention stays
 * primitive), and any operand that is not of the shapes above.
 */
export const groupQueryAttentionRule = defineRule({
  name: "group-query-attention",
  vars: ["q", "keys", "keysT", "values", "scale", "scaled", "mask", "masked", "probs", "merged"],
  pattern: (p, v) => {
    const scores = p.op("MatMul", [v.q, p.op("Transpose", [v.keys], { as: v.keysT })]);
    const scaled = p.oneOf(p.op("Mul", [scores, v.scale], { as: v.scaled }), p.op("Div", [scores, v.scale], { as: v.scaled }));
    const masked = p.oneOf(p.op("Where", [v.mask, scaled, p.any()], { as: v.masked }), p.op("Add", [scaled, v.mask], { as: v.masked }));
    const probs = p.op("Softmax", [masked], { as: v.probs });
    const merged = p.op("Transpose", [p.op("MatMul", [probs, v.values])], { as: v.merged });
    return p.op("Reshape", [merged, p.any()]);
  },
  check: (m) => {
    const { q, keys, values, scale, mask } = m.vars;
    const out = m.outputs[0]!;
    if (!hasPerm(m.node("keysT"), [0, 1, 3, 2]) || !hasPerm(m.node("merged"), [0, 2, 1, 3])) return noMatch();
    if (!isLastAxis(m.node("probs"), "axis", -1, 4) || rankOf(out) !== 3) return noMatch();
    const query = headSplit(q);
    if (query === null) return reject(`the query ${q.describe()} is not the head split of a [batch, sequence, hidden] tensor (is its rotary fused?)`);
    const { heads, headDim } = query;
    if (headDim % HEAD_SIZE_MULTIPLE !== 0) {
      return reject(`head_size ${headDim} is not a multiple of ${HEAD_SIZE_MULTIPLE}, which onnxruntime's CPU GroupQueryAttention needs; the attention stays primitive`);
    }
    const k = kvOperand(keys, heads);
    if (typeof k === "string") return reject(k);
    const v = kvOperand(values, heads);
    if (typeof v === "string") return reject(v);
    if (k.kvHeads !== v.kvHeads || k.headDim !== headDim || v.headDim !== headDim || heads % k.kvHeads !== 0) {
      return reject(`query ${heads}x${headDim}, key ${k.kvHeads}x${k.headDim} and value ${v.kvHeads}x${v.headDim} heads do not make grouped-query attention`);
    }
    if ([query.x, k.fresh, v.fresh, k.past, v.past].some((x) => x.dtype !== "f32")) return reject("GroupQueryAttention is fused for f32 graphs only");
    const factor = constantScalar(scale);
    if (factor === null || factor === 0) return reject(`the score scale ${scale.describe()} is not a non-zero constant`);
    const maskedBy = m.node("masked");
    let form: MaskForm;
    if (maskedBy.is("Where")) {
      const fill = constantScalar(maskedBy.input(2));
      if (mask.dtype !== "bool" || maskedBy.input(1) !== m.node("scaled").output() || fill === null || fill > MASKED_AT_MOST) {
        return reject(`${maskedBy.describe()} does not keep the scores where the mask is true and hide the rest`);
      }
      form = { kind: "boolean", mask, fill };
    } else {
      if (mask.dtype !== "f32") return reject(`the additive mask ${mask.describe()} is not f32`);
      form = { kind: "additive", mask };
    }
    if (rankOf(mask) !== 4) return reject(`the mask ${mask.describe()} is not [batch, 1, sequence, total_sequence]`);
    return accept({
      query: query.x,
      key: k,
      value: v,
      heads,
      kvHeads: k.kvHeads,
      scale: m.node("scaled").is("Div") ? 1 / factor : factor,
      form,
    });
  },
  rewrite: (b, { query, key, value, heads, kvHeads, scale, form }) => {
    const bias =
      form.kind === "additive"
        ? form.mask
        : b.op("Where", [form.mask, b.scalar(0, "f32"), b.scalar(form.fill, "f32")], { name: "attention_bias" });
    // The batch size comes from the bias when it has the query's batch dimension, so every layer shares one computation.
    const batchDim = query.shape?.[0];
    const batchFrom = batchDim !== undefined && batchDim !== null && batchDim !== 1 && bias.shape?.[0] === batchDim ? bias : query;
    const total = b.op("Cast", [b.op("Shape", [bias], { attrs: { start: -1 }, name: "total_sequence_length" })], { attrs: { to: "i32" } });
    const batch = b.op("Shape", [batchFrom], { attrs: { start: 0, end: 1 }, name: "batch_size" });
    const seqlens = b.op("Expand", [b.op("Sub", [total, b.scalar(1, "i32")]), batch], { name: "seqlens_k" });
    const totalScalar = b.op("Squeeze", [total, b.int64s([0])], { name: "total_sequence_length_scalar" });
    const gqa = b.node(
      "GroupQueryAttention",
      [query, key.fresh, value.fresh, key.past, value.past, seqlens, totalScalar, null, null, null, bias],
      { attrs: { num_heads: heads, kv_num_heads: kvHeads, scale }, name: "GroupQueryAttention", outputs: ["GroupQueryAttention", "present_key", "present_value"] },
    );
    return gqa.output(0);
  },
});

/**
 * The present K/V Concat(past, head split of x) of an attention that
 * group-query-attention fused -> that GroupQueryAttention's present output
 * (it holds the same [batch, kv_heads, total, head_dim] tensor).
 */
export const attentionPresentRule = defineRule({
  name: "group-query-attention-present",
  vars: ["past", "fresh", "present"],
  pattern: (p, { past, fresh, present }) => p.op("Concat", [past, fresh], { as: present }),
  check: (m) => {
    const { past, fresh } = m.vars;
    const use = past.uses.find((u) => u.node.is("GroupQueryAttention") && (u.index === 3 || u.index === 4));
    if (use === undefined) return noMatch();
    const split = headSplit(fresh);
    const axis = m.node("present").int("axis");
    if (split === null || use.node.inputs[use.index - 2] !== split.x || (axis !== 2 && axis !== -2)) {
      return reject(`${m.node("present").describe()} appends something other than what ${use.node.describe()} reads`);
    }
    return accept(use.node.output(use.index - 2));
  },
  rewrite: (_b, present) => present,
});

/** Graph metadata key under which a fused graph records its attention convention (the writer copies it to oar_inference.json). */
export const ATTENTION_METADATA_KEY = "oar.attention";

/** What a graph with GroupQueryAttention asks of whoever feeds it. */
export interface AttentionConvention {
  readonly op: "GroupQueryAttention";
  readonly layers: number;
  /** Padding as attention_mask says it: the same convention as the primitive graph (left padding works). */
  readonly padding: "as-attention-mask";
  /** onnxruntime's CPU kernel refuses a step of several tokens over a non-empty past when batch_size > 1. */
  readonly multiTokenStepWithPast: "batch-size-1-only";
}

/**
 * Records the attention convention of a fused graph in its metadata
 * (ATTENTION_METADATA_KEY, JSON of AttentionConvention) when it has
 * GroupQueryAttention nodes. Changes nothing else.
 */
export const attentionMetadataPass: Pass = {
  name: "attention-metadata",
  run(graph: Graph) {
    const layers = graph.nodes.filter((n) => n.is("GroupQueryAttention")).length;
    if (layers === 0) return { changed: false, fired: 0, rejections: [] };
    const convention: AttentionConvention = {
      op: "GroupQueryAttention",
      layers,
      padding: "as-attention-mask",
      multiTokenStepWithPast: "batch-size-1-only",
    };
    const json = JSON.stringify(convention);
    const before = graph.metadata.get(ATTENTION_METADATA_KEY);
    graph.metadata.set(ATTENTION_METADATA_KEY, json);
    return { changed: false, fired: before === json ? 0 : 1, rejections: [] };
  },
};
