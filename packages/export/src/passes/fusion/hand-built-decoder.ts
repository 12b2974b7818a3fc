import { type DecoderConfig, openModelWeights, readDecoderConfig, ropeInvFreq } from "@oar/modeling";
import { type Tensor, cast } from "@oar/tensor";
import { Graph } from "../../ir/graph.js";
import type { Shape } from "../../ir/shape.js";
import type { Value } from "../../ir/value.js";
import { randomF32 } from "../../testing/ort.js";

/*
 * Decoder graphs written by hand in the IR, for the passes' tests: the
 * structure the trace backend records ("trace" style), and the same model
 * as another exporter might write it ("foreign" style: other value names,
 * operand orders, Mul(x, x) for the square, Div(1, Sqrt) and Div(x, Sqrt)
 * for the inverse, ReduceMean's axes as an input (opset 18), Hugging
 * Face's MatMul-and-Transpose rotary tables, rotate_half with Split, an
 * additive float mask, scores divided by sqrt(head_dim)). Both have the
 * graph interface of DESIGN.md and compute the same function.
 */

export type ExporterStyle = "trace" | "foreign";

/** Tensor by Hugging Face name, f32; linear weights [out, in]. */
export type WeightSource = (name: string) => Tensor<"f32">;

/** Dimension symbols of the interface (the trace's, Optimum's). */
const B = "batch_size";
const S = "sequence_length";
const P = "past_sequence_length";
const T = "total_sequence_length";
/** f32's lowest value: a masked score. */
const MASKED = -3.4028234663852886e38;

/** A 2-layer Qwen2-like decoder with head size 16 (GroupQueryAttention's CPU minimum) and a small vocabulary. */
export const TINY_QWEN2: DecoderConfig = {
  architecture: "Qwen2ForCausalLM",
  family: "qwen2",
  vocabSize: 256,
  hiddenSize: 64,
  intermediateSize: 128,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  ropeScaling: null,
  maxPositions: 128,
  qkvBias: true,
  oBias: false,
  mlpBias: false,
  tieWordEmbeddings: true,
  bosTokenId: null,
  eosTokenIds: [],
  torchDtype: "float32",
};

/**
 * Deterministic random weights for `config`, scaled the way
 * @oar/make-tiny-model scales them: peaked next-token distributions,
 * attention that is selective, norms and biases far from neutral.
 */
export function randomWeights(config: DecoderConfig, seed: number): WeightSource {
  const h = config.hiddenSize;
  const made = new Map<string, Tensor<"f32">>();
  let next = seed;
  const normal = (shape: readonly number[], mean: number, std: number): Tensor<"f32"> => {
    const n = shape.reduce((a, b) => a * b, 1);
    const u = randomF32(n, next++);
    // Uniform [-1, 1) scaled to the standard deviation wanted.
    return { dtype: "f32", shape, data: u.map((x) => mean + x * std * Math.sqrt(3)) };
  };
  const spec = (name: string): Tensor<"f32"> => {
    const qDim = config.numHeads * config.headDim;
    const kvDim = config.numKvHeads * config.headDim;
    const role = name.replace(/^model\.layers\.\d+\./, "");
    switch (role) {
      case "model.embed_tokens.weight":
      case "lm_head.weight":
        return normal([config.vocabSize, h], 0, 0.02);
      case "model.norm.weight":
        return normal([h], 6 / (0.02 * Math.sqrt(h)), 0.1);
      case "input_layernorm.weight":
      case "post_attention_layernorm.weight":
        return normal([h], 1, 0.1);
      case "self_attn.q_proj.weight":
        return normal([qDim, h], 0, Math.sqrt(4 / h));
      case "self_attn.k_proj.weight":
        return normal([kvDim, h], 0, Math.sqrt(4 / h));
      case "self_attn.v_proj.weight":
        return normal([kvDim, h], 0, 1 / Math.sqrt(h));
      case "self_attn.q_proj.bias":
        return normal([qDim], 0, 0.5);
      case "self_attn.k_proj.bias":
      case "self_attn.v_proj.bias":
        return normal([kvDim], 0, 0.5);
      case "self_attn.o_proj.weight":
        return normal([h, qDim], 0, 1 / Math.sqrt(qDim));
      case "mlp.gate_proj.weight":
      case "mlp.up_proj.weight":
        return normal([config.intermediateSize, h], 0, 1 / Math.sqrt(h));
      case "mlp.down_proj.weight":
        return normal([h, config.intermediateSize], 0, 1 / Math.sqrt(config.intermediateSize));
      default:
        throw new Error(`randomWeights: no tensor "${name}" in a ${config.architecture}`);
    }
  };
  return (name) => {
    let t = made.get(name);
    if (t === undefined) {
      t = spec(name);
      made.set(name, t);
    }
    return t;
  };
}

/** The config and f32 weights of a Hugging Face checkpoint directory. */
export function checkpointWeights(dir: string): { readonly config: DecoderConfig; readonly weight: WeightSource } {
  const config = readDecoderConfig(dir);
  const source = openModelWeights(dir, config).source;
  return { config, weight: (name) => cast(source.read(name), "f32") as Tensor<"f32"> };
}

/** The transpose [cols, rows] of a [rows, cols] matrix. */
function transpose(t: Tensor<"f32">): Tensor<"f32"> {
  const [rows, cols] = t.shape as [number, number];
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[r * cols + c]!;
  return { dtype: "f32", shape: [cols, rows], data: out };
}

/** A decoder graph of `config` with these weights, written in `style`. */
export function handBuiltDecoder(options: { readonly config: DecoderConfig; readonly weight: WeightSource; readonly style: ExporterStyle }): Graph {
  const { config: cfg, weight, style } = options;
  const foreign = style === "foreign";
  const g = new Graph({ name: `${cfg.architecture} by hand (${style})`, opsets: { "": foreign ? 18 : 17 } });
  const { numHeads: heads, numKvHeads: kvHeads, headDim } = cfg;
  const half = headDim / 2;
  const ints = (values: readonly number[]) => g.int64s(values);
  const f32 = (x: number) => g.scalar(x, "f32");
  const init = (name: string, t: Tensor<"f32">) => g.initializer(t, { name: foreign ? `w.${name}` : name });

  const inputIds = g.input("input_ids", "i64", [B, S]);
  const attentionMask = g.input("attention_mask", "i64", [B, T]);
  const positionIds = g.input("position_ids", "i64", [B, S]);
  const past = Array.from({ length: cfg.numLayers }, (_, l) => ({
    key: g.input(`past_key_values.${l}.key`, "f32", [B, kvHeads, P, headDim]),
    value: g.input(`past_key_values.${l}.value`, "f32", [B, kvHeads, P, headDim]),
  }));
  const numLogitsToKeep = g.input("num_logits_to_keep", "i64", []);

  const unsqueeze = (x: Value, axes: readonly number[]) => g.op("Unsqueeze", [x, ints(axes)]);

  // Mask: may query i (absolute position past + i) see key j?  j <= past + i and attention_mask[b, j] == 1.
  const scalarDim = (x: Value) => g.op("Squeeze", [g.op("Shape", [x], { attrs: { start: 1, end: 2 } }), ints([0])]);
  const total = scalarDim(attentionMask);
  const one = g.scalar(1, "i64");
  const keyPos = g.op("Range", [g.scalar(0, "i64"), total, one], { shape: [T] });
  const queryPos = g.op("Range", [g.op("Sub", [total, scalarDim(inputIds)]), total, one], { shape: [S] });
  const causal = g.op("LessOrEqual", [unsqueeze(keyPos, [0]), unsqueeze(queryPos, [1])]);
  const attended = unsqueeze(g.op("Equal", [attentionMask, one]), [1, 2]);
  const allowed = g.op("And", [causal, attended], { shape: [B, 1, S, T] });
  const additiveMask = foreign
    ? g.op("Mul", [g.op("Sub", [f32(1), g.op("Cast", [allowed], { attrs: { to: "f32" } })]), f32(MASKED)], { name: "causal_mask" })
    : null;

  // Rotary tables [batch, 1, sequence, head_dim].
  const invFreq = ropeInvFreq(cfg);
  const positions = g.op("Cast", [positionIds], { attrs: { to: "f32" } });
  let freqs: Value;
  if (foreign) {
    const inv = g.initializer({ dtype: "f32", shape: [1, half, 1], data: invFreq }, { name: "rotary.inv_freq" });
    freqs = g.op("Transpose", [g.op("MatMul", [inv, unsqueeze(positions, [1])])], { attrs: { perm: [0, 2, 1] } });
  } else {
    const inv = g.initializer({ dtype: "f32", shape: [half], data: invFreq }, { name: "model.rotary_emb.inv_freq" });
    freqs = g.op("Mul", [unsqueeze(positions, [2]), inv]);
  }
  const angles = g.op("Concat", [freqs, freqs], { attrs: { axis: -1 } });
  const cos = unsqueeze(g.op("Cos", [angles]), [1]);
  const sin = unsqueeze(g.op("Sin", [angles]), [1]);

  let norms = 0;
  const rmsNorm = (x: Value, w: Value, name: string): Value => {
    const k = norms++;
    if (!foreign) {
      const variance = g.op("ReduceMean", [g.op("Pow", [x, f32(2)])], { attrs: { axes: [-1], keepdims: 1 } });
      const std = g.op("Sqrt", [g.op("Add", [variance, f32(cfg.rmsNormEps)])]);
      return g.op("Mul", [w, g.op("Mul", [x, g.op("Reciprocal", [std])])], { name });
    }
    const variance = g.op("ReduceMean", [g.op("Mul", [x, x]), ints([-1])], { attrs: { keepdims: 1 } });
    const std = g.op("Sqrt", [g.op("Add", [f32(cfg.rmsNormEps), variance])]);
    const forms = [
      () => g.op("Mul", [x, g.op("Div", [f32(1), std])]),
      () => g.op("Div", [x, std]),
      () => g.op("Mul", [g.op("Reciprocal", [std]), x]),
    ];
    return g.op("Mul", [forms[k % forms.length]!(), w], { name });
  };
  const linear = (x: Value, module: string, bias: boolean): Value => {
    const y = g.op("MatMul", [x, init(`${module}.weight.T`, transpose(weight(`${module}.weight`)))]);
    if (!bias) return y;
    const b = init(`${module}.bias`, weight(`${module}.bias`));
    return foreign ? g.op("Add", [b, y]) : g.op("Add", [y, b]);
  };
  const headsOf = (x: Value, n: number) =>
    g.op("Transpose", [g.op("Reshape", [x, ints([0, 0, n, headDim])])], { attrs: { perm: [0, 2, 1, 3] } });
  const rope = (x: Value, n: number): Value => {
    const t = headsOf(x, n);
    let x1: Value;
    let x2: Value;
    if (foreign) {
      const halves = g.node("Split", [t, ints([half, half])], { attrs: { axis: -1 }, outputs: 2 });
      [x1, x2] = [halves.output(0), halves.output(1)];
      for (const o of [x1, x2]) [o.dtype, o.shape] = ["f32", [B, n, S, half] as Shape];
    } else {
      x1 = g.op("Slice", [t, ints([0]), ints([half]), ints([3])]);
      x2 = g.op("Slice", [t, ints([half]), ints([headDim]), ints([3])]);
    }
    const rotated = g.op("Concat", [g.op("Neg", [x2]), x1], { attrs: { axis: foreign ? 3 : -1 } });
    return foreign
      ? g.op("Add", [g.op("Mul", [rotated, sin]), g.op("Mul", [cos, t])])
      : g.op("Add", [g.op("Mul", [t, cos]), g.op("Mul", [rotated, sin])]);
  };
  const repeatKv = (x: Value): Value => {
    const group = heads / kvHeads;
    if (group === 1) return x;
    const expanded = g.op("Expand", [unsqueeze(x, [2]), ints([1, 1, group, 1, 1])]);
    return g.op("Reshape", [expanded, ints([0, heads, -1, headDim])], { shape: [B, heads, T, headDim] });
  };

  let h = g.op("Gather", [init("model.embed_tokens.weight", weight("model.embed_tokens.weight")), inputIds], { attrs: { axis: 0 } });
  const presents: { key: Value; value: Value }[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const x = rmsNorm(h, init(`${p}.input_layernorm.weight`, weight(`${p}.input_layernorm.weight`)), foreign ? `blk.${l}.attn_norm` : `${p}.input_layernorm`);
    const q = rope(linear(x, `${p}.self_attn.q_proj`, cfg.qkvBias), heads);
    const k = rope(linear(x, `${p}.self_attn.k_proj`, cfg.qkvBias), kvHeads);
    const v = headsOf(linear(x, `${p}.self_attn.v_proj`, cfg.qkvBias), kvHeads);
    const presentShape: Shape = [B, kvHeads, T, headDim];
    const key = g.op("Concat", [past[l]!.key, k], { attrs: { axis: 2 }, shape: presentShape });
    const value = g.op("Concat", [past[l]!.value, v], { attrs: { axis: 2 }, shape: presentShape });
    presents.push({ key, value });
    const scores = g.op("MatMul", [q, g.op("Transpose", [repeatKv(key)], { attrs: { perm: [0, 1, 3, 2] } })]);
    const masked = foreign
      ? g.op("Add", [additiveMask!, g.op("Div", [scores, f32(Math.sqrt(headDim))])])
      : g.op("Where", [allowed, g.op("Mul", [scores, f32(1 / Math.sqrt(headDim))]), f32(MASKED)]);
    const probs = g.op("Softmax", [masked], { attrs: { axis: -1 } });
    const context = g.op("Transpose", [g.op("MatMul", [probs, repeatKv(value)])], { attrs: { perm: [0, 2, 1, 3] } });
    const attn = linear(g.op("Reshape", [context, ints([0, 0, heads * headDim])]), `${p}.self_attn.o_proj`, cfg.oBias);
    h = foreign ? g.op("Add", [attn, h]) : g.op("Add", [h, attn]);
    const y = rmsNorm(h, init(`${p}.post_attention_layernorm.weight`, weight(`${p}.post_attention_layernorm.weight`)), foreign ? `blk.${l}.ffn_norm` : `${p}.post_attention_layernorm`);
    const gate = linear(y, `${p}.mlp.gate_proj`, cfg.mlpBias);
    const act = foreign ? g.op("Mul", [g.op("Sigmoid", [gate]), gate]) : g.op("Mul", [gate, g.op("Sigmoid", [gate])]);
    const mlp = linear(g.op("Mul", [act, linear(y, `${p}.mlp.up_proj`, cfg.mlpBias)]), `${p}.mlp.down_proj`, cfg.mlpBias);
    h = foreign ? g.op("Add", [mlp, h]) : g.op("Add", [h, mlp]);
  }
  h = rmsNorm(h, init("model.norm.weight", weight("model.norm.weight")), foreign ? "output_norm" : "model.norm");
  const starts = unsqueeze(g.op("Neg", [numLogitsToKeep]), [0]);
  const rows = g.op("Slice", [h, starts, ints([Number.MAX_SAFE_INTEGER]), ints([1])]);
  const head = cfg.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  const logits = g.op("MatMul", [rows, init(`${head}.T`, transpose(weight(head)))]);
  g.output(logits, "logits");
  presents.forEach((pr, l) => {
    g.output(pr.key, `present.${l}.key`);
    g.output(pr.value, `present.${l}.value`);
  });
  return g;
}
