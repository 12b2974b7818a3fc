import type { DType } from "@oar/tensor";
import { type AttentionOptions, type DecoderConfig, type Linear, type Ops, type RopeOptions, type Site, ropeInvFreq } from "@oar/modeling";
import type { NodeArgs } from "../ir/builder.js";
import type { Graph } from "../ir/graph.js";
import type { AttrsOf, OpType } from "../ir/ops.js";
import { type Shape, mergeShapes } from "../ir/shape.js";
import type { Value } from "../ir/value.js";
import {
  ATTENTION_MASK,
  DIMS,
  type GraphDType,
  INPUT_IDS,
  LOGITS,
  MASKED_SCORE,
  NUM_LOGITS_TO_KEEP,
  POSITION_IDS,
} from "./io.js";
import { type ScopedOps, groupedAttention, groupedMask } from "./grouped-attention.js";
import { type KvIo, type LayerKv, kvIo } from "./kv-io.js";
import { siteScope } from "./names.js";
import type { LinearOperands } from "./weights.js";

/** The inputs of a traced decoder graph. */
export interface DecoderInputs {
  readonly inputIds: Value; // i64 [batch_size, sequence_length]
  readonly attentionMask: Value; // i64 [batch_size, total_sequence_length]
  readonly positionIds: Value; // i64 [batch_size, sequence_length]
  readonly past: readonly LayerKv[]; // per layer [batch_size, kv_heads, past_sequence_length, head_dim]: inputs, or gathered from block pools
  readonly numLogitsToKeep: Value; // i64 []
}

export interface TraceOpsOptions {
  readonly config: DecoderConfig;
  readonly dtype: GraphDType;
  readonly weights: LinearOperands;
  /** Where the past comes from and which KV the graph returns (default: the past_key_values / present convention). */
  readonly kv?: KvIo;
  /**
   * How attention is written (default "repeat-kv"): Concat into the present and Hugging Face's repeat_kv, the form
   * the GroupQueryAttention fusion reads; or "grouped" (./grouped-attention.ts), which copies no KV.
   */
  readonly attention?: AttentionForm;
}

export type AttentionForm = "repeat-kv" | "grouped";

/** Slice's "to the end": any end past the dimension is clamped. */
const TO_END = Number.MAX_SAFE_INTEGER;

/**
 * `Ops` that record ONNX nodes instead of computing: the decoder definition
 * run on this backend becomes a graph of standard ai.onnx ops (opset 17),
 * with the interface of ./io.ts. Activations are [batch, sequence, features];
 * rope returns [batch, heads, sequence, head_dim], the layout attention
 * reads. Positions come from `position_ids`; the causal and padding mask is
 * computed once from `attention_mask` and the shapes, and shared by every
 * layer, as are the rotary cos/sin tables. The structure of each op is
 * documented in the package README ("The traced graph").
 *
 * The graph computes in `dtype`. With f16 or bf16, RMSNorm, the masked
 * softmax and the rotary tables are computed in f32 between Casts (as
 * Hugging Face's models do), and the logits are cast to f32.
 */
export class TraceOps implements Ops<Value, Value> {
  readonly inputs: DecoderInputs;
  readonly #g: Graph;
  readonly #cfg: DecoderConfig;
  readonly #dtype: GraphDType;
  readonly #weights: LinearOperands;
  readonly #kv: KvIo;
  readonly #attention: AttentionForm;
  readonly #presents: { past: LayerKv; present: LayerKv | null; fresh: LayerKv }[] = []; // per layer: [batch, kv_heads, past | total | sequence, head_dim]
  #groupedMask: Value | null = null; // bool [batch, 1, group*sequence, total_sequence]
  readonly #names = new Map<string, number>();
  #rotary: { readonly cos: Value; readonly sin: Value } | null = null; // each [batch, 1, sequence, head_dim]
  #mask: Value | null = null; // bool [batch, 1, sequence, total_sequence]

  constructor(graph: Graph, options: TraceOpsOptions) {
    this.#g = graph;
    this.#cfg = options.config;
    this.#dtype = options.dtype;
    this.#weights = options.weights;
    this.#kv = options.kv ?? kvIo({ kind: "present" }, options.config, options.dtype);
    this.#attention = options.attention ?? "repeat-kv";
    const { batch, sequence, totalSequence } = DIMS;
    const inputIds = graph.input(INPUT_IDS, "i64", [batch, sequence]);
    const attentionMask = graph.input(ATTENTION_MASK, "i64", [batch, totalSequence]);
    const positionIds = graph.input(POSITION_IDS, "i64", [batch, sequence]);
    const past = this.#kv.declarePast(graph);
    const numLogitsToKeep = graph.input(NUM_LOGITS_TO_KEEP, "i64", []);
    this.inputs = { inputIds, attentionMask, positionIds, past, numLogitsToKeep };
  }

  inputIds(): Value {
    return this.inputs.inputIds;
  }

  embed(table: Value, ids: Value, site: Site): Value {
    return this.#op(siteScope(site), "Gather", [table, ids], { axis: 0 });
  }

  linear(x: Value, layer: Linear<Value>, site: Site): Value {
    const scope = siteScope(site);
    if (layer.lora.length > 0) {
      throw new Error(`${scope}: the trace records merged weights only; merge LoRA into the weights first (exportModel does)`);
    }
    const y = this.#op(scope, "MatMul", [x, this.#weights.matmulWeight(layer.weight)]);
    return layer.bias === null ? y : this.#op(scope, "Add", [y, layer.bias]);
  }

  rmsNorm(x: Value, weight: Value, eps: number, site: Site): Value {
    const s = siteScope(site);
    const xf = this.#toF32(s, x);
    const variance = this.#op(s, "ReduceMean", [this.#op(s, "Pow", [xf, this.#scalar(s, 2, "f32")])], { axes: [-1], keepdims: 1 });
    const std = this.#op(s, "Sqrt", [this.#op(s, "Add", [variance, this.#scalar(s, eps, "f32")])]);
    const normed = this.#op(s, "Mul", [xf, this.#op(s, "Reciprocal", [std])]);
    return this.#op(s, "Mul", [weight, this.#fromF32(s, normed)]);
  }

  add(a: Value, b: Value, site: Site): Value {
    return this.#op(siteScope(site), "Add", [a, b]);
  }

  mul(a: Value, b: Value, site: Site): Value {
    return this.#op(siteScope(site), "Mul", [a, b]);
  }

  silu(x: Value, site: Site): Value {
    const s = siteScope(site);
    return this.#op(s, "Mul", [x, this.#op(s, "Sigmoid", [x])]);
  }

  /** x [batch, sequence, heads*head_dim] -> [batch, heads, sequence, head_dim], rotated: x*cos + rotate_half(x)*sin. */
  rope(x: Value, options: RopeOptions, site: Site): Value {
    const s = siteScope(site);
    const { heads, headDim } = options;
    const half = headDim / 2;
    const t = this.#heads(s, x, heads, headDim);
    const { cos, sin } = this.#rotaryTables();
    const x1 = this.#op(s, "Slice", [t, this.#ints(s, [0]), this.#ints(s, [half]), this.#ints(s, [3])]);
    const x2 = this.#op(s, "Slice", [t, this.#ints(s, [half]), this.#ints(s, [headDim]), this.#ints(s, [3])]);
    const rotated = this.#op(s, "Concat", [this.#op(s, "Neg", [x2]), x1], { axis: -1 });
    return this.#op(s, "Add", [this.#op(s, "Mul", [t, cos]), this.#op(s, "Mul", [rotated, sin])]);
  }

  /**
   * q [batch, heads, sequence, head_dim] and k [batch, kv_heads, sequence,
   * head_dim] from rope, v [batch, sequence, kv_heads*head_dim]. Appends k
   * and v to the layer's past (the present outputs), repeats KV heads for
   * GQA, and attends under the shared mask.
   */
  attention(q: Value, k: Value, v: Value, options: AttentionOptions, site: Site): Value {
    const s = siteScope(site);
    const { layer, heads, kvHeads, headDim, scale } = options;
    const past = this.inputs.past[layer];
    if (past === undefined) throw new Error(`${s}: layer ${layer} has no past_key_values input (the config has ${this.#cfg.numLayers} layers)`);
    const vt = this.#heads(s, v, kvHeads, headDim);
    if (this.#attention === "grouped") {
      const fresh = { key: k, value: vt };
      this.#presents[layer] = { past, present: null, fresh };
      this.#groupedMask ??= groupedMask(this.#scoped("/model/attn_mask"), this.#causalMask(), heads / kvHeads);
      return groupedAttention(this.#scoped(s), { q, fresh, past, mask: this.#groupedMask, heads, kvHeads, headDim, scale, dtype: this.#dtype });
    }
    const presentShape: Shape = [DIMS.batch, kvHeads, DIMS.totalSequence, headDim];
    const key = this.#op(s, "Concat", [past.key, k], { axis: 2 }, presentShape);
    const value = this.#op(s, "Concat", [past.value, vt], { axis: 2 }, presentShape);
    this.#presents[layer] = { past, present: { key, value }, fresh: { key: k, value: vt } };
    const keys = this.#repeatKv(s, key, heads, kvHeads, headDim);
    const values = this.#repeatKv(s, value, heads, kvHeads, headDim);
    const scores = this.#op(s, "MatMul", [q, this.#op(s, "Transpose", [keys], { perm: [0, 1, 3, 2] })]);
    const scaled = this.#toF32(s, this.#op(s, "Mul", [scores, this.#scalar(s, scale, this.#dtype)]));
    const masked = this.#op(s, "Where", [this.#causalMask(), scaled, this.#scalar(s, MASKED_SCORE, "f32")]);
    const probs = this.#fromF32(s, this.#op(s, "Softmax", [masked], { axis: -1 }));
    const context = this.#op(s, "Transpose", [this.#op(s, "MatMul", [probs, values])], { perm: [0, 2, 1, 3] });
    return this.#op(s, "Reshape", [context, this.#ints(s, [0, 0, heads * headDim])]);
  }

  /** The last num_logits_to_keep positions of x [batch, sequence, hidden] (all of them for 0). */
  logitRows(x: Value, site: Site): Value {
    const s = siteScope(site);
    const starts = this.#op(s, "Unsqueeze", [this.#op(s, "Neg", [this.inputs.numLogitsToKeep]), this.#ints(s, [0])]);
    return this.#op(s, "Slice", [x, starts, this.#ints(s, [TO_END]), this.#ints(s, [1])]);
  }

  /** Makes `logits` [batch, kept, vocab] (cast to f32) and each layer's KV outputs (the KvIo's) the graph's outputs. */
  finish(logits: Value): void {
    const out = this.#dtype === "f32" ? logits : this.#op("/lm_head", "Cast", [logits], { to: "f32" });
    this.#g.output(out, LOGITS).shape = [DIMS.batch, DIMS.logitsKept, this.#cfg.vocabSize];
    for (let l = 0; l < this.#cfg.numLayers; l++) {
      const p = this.#presents[l];
      if (p === undefined) throw new Error(`layer ${l} recorded no attention, so it has no present key/value`);
      this.#kv.declareOutputs(this.#g, l, p);
    }
  }

  /** Node recording in scope `s`, for the attention written in ./grouped-attention.ts. */
  #scoped(s: string): ScopedOps {
    return {
      op: (type, inputs, attrs, shape) => this.#op(s, type, inputs, attrs, shape),
      ints: (values) => this.#ints(s, values),
      scalar: (value, dtype) => this.#scalar(s, value, dtype),
      toF32: (x) => this.#toF32(s, x),
      fromF32: (x) => this.#fromF32(s, x),
    };
  }

  /** x [batch, sequence, heads*head_dim] -> [batch, heads, sequence, head_dim]. */
  #heads(s: string, x: Value, heads: number, headDim: number): Value {
    const split = this.#op(s, "Reshape", [x, this.#ints(s, [0, 0, heads, headDim])]);
    return this.#op(s, "Transpose", [split], { perm: [0, 2, 1, 3] });
  }

  /** [batch, kv_heads, total, head_dim] -> [batch, heads, total, head_dim], each KV head repeated heads/kv_heads times (Hugging Face's repeat_kv). */
  #repeatKv(s: string, x: Value, heads: number, kvHeads: number, headDim: number): Value {
    const group = heads / kvHeads;
    if (group === 1) return x;
    const expanded = this.#op(s, "Expand", [this.#op(s, "Unsqueeze", [x, this.#ints(s, [2])]), this.#ints(s, [1, 1, group, 1, 1])]);
    return this.#op(s, "Reshape", [expanded, this.#ints(s, [0, heads, -1, headDim])], undefined, [DIMS.batch, heads, DIMS.totalSequence, headDim]);
  }

  /** cos and sin [batch, 1, sequence, head_dim] at position_ids, from the inv_freq initializer (computed in f32). */
  #rotaryTables(): { cos: Value; sin: Value } {
    if (this.#rotary !== null) return this.#rotary;
    const s = "/model/rotary_emb";
    const invFreq = ropeInvFreq(this.#cfg);
    const inv = this.#g.initializer({ dtype: "f32", shape: [invFreq.length], data: invFreq }, { name: "model.rotary_emb.inv_freq" });
    const positions = this.#op(s, "Unsqueeze", [this.#op(s, "Cast", [this.inputs.positionIds], { to: "f32" }), this.#ints(s, [2])]);
    const freqs = this.#op(s, "Mul", [positions, inv]);
    const angles = this.#op(s, "Concat", [freqs, freqs], { axis: -1 });
    const table = (op: "Cos" | "Sin") => this.#op(s, "Unsqueeze", [this.#fromF32(s, this.#op(s, op, [angles])), this.#ints(s, [1])]);
    this.#rotary = { cos: table("Cos"), sin: table("Sin") };
    return this.#rotary;
  }

  /**
   * bool [batch, 1, sequence, total_sequence]: query i (at absolute position
   * past + i, past = total - sequence) may see key j iff j <= past + i and
   * attention_mask[b, j] == 1. Left padding is just zeros in attention_mask.
   */
  #causalMask(): Value {
    if (this.#mask !== null) return this.#mask;
    const s = "/model/attn_mask";
    const { inputIds, attentionMask } = this.inputs;
    const scalarDim = (x: Value) => this.#op(s, "Squeeze", [this.#op(s, "Shape", [x], { start: 1, end: 2 }), this.#ints(s, [0])]);
    const total = scalarDim(attentionMask);
    const past = this.#op(s, "Sub", [total, scalarDim(inputIds)]);
    const one = this.#scalar(s, 1, "i64");
    const { batch, sequence, totalSequence } = DIMS;
    const keyPos = this.#op(s, "Range", [this.#scalar(s, 0, "i64"), total, one], undefined, [totalSequence]);
    const queryPos = this.#op(s, "Range", [past, total, one], undefined, [sequence]);
    const causal = this.#op(s, "LessOrEqual", [this.#op(s, "Unsqueeze", [keyPos, this.#ints(s, [0])]), this.#op(s, "Unsqueeze", [queryPos, this.#ints(s, [1])])]);
    const attended = this.#op(s, "Unsqueeze", [this.#op(s, "Equal", [attentionMask, one]), this.#ints(s, [1, 2])]);
    this.#mask = this.#op(s, "And", [causal, attended], undefined, [batch, 1, sequence, totalSequence]);
    return this.#mask;
  }

  #toF32(s: string, x: Value): Value {
    return this.#dtype === "f32" ? x : this.#op(s, "Cast", [x], { to: "f32" });
  }

  #fromF32(s: string, x: Value): Value {
    return this.#dtype === "f32" ? x : this.#op(s, "Cast", [x], { to: this.#dtype });
  }

  #scalar(s: string, value: number, dtype: DType): Value {
    return this.#g.scalar(value, dtype, { name: `${s}/Constant_output_0` });
  }

  #ints(s: string, values: readonly number[]): Value {
    return this.#g.int64s(values, { name: `${s}/Constant_output_0` });
  }

  /**
   * One node named `${scope}/${type}` (`_1`, `_2`... for repeats in the
   * scope), its output `${name}_output_0`; `shape` names symbolic dims
   * inference leaves unknown.
   */
  #op<T extends OpType>(scope: string, type: T, inputs: readonly (Value | null)[], attrs?: AttrsOf<T>, shape?: Shape): Value {
    const key = `${scope}/${type}`;
    const n = this.#names.get(key) ?? 0;
    this.#names.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    const options = [{ name, outputs: [`${name}_output_0`], ...(attrs === undefined ? {} : { attrs }) }] as unknown as NodeArgs<T>;
    const out = this.#g.node(type, inputs, ...options).output(0);
    if (shape !== undefined) out.shape = out.shape === undefined ? [...shape] : mergeShapes(shape, out.shape);
    return out;
  }
}
