/** The decoder shapes and switches a checkpoint is made from, and how its weights are drawn. */
import { assertNever } from "@oar/tensor";

export type Arch = "qwen2" | "llama";
export type Preset = "micro" | "tiny" | "qwen2-0.5b" | "qwen2-1.5b";
/** The dtypes weights can be written in. */
export type WeightDtype = "f32" | "bf16" | "f16";

export const ARCHS: readonly Arch[] = ["qwen2", "llama"];
export const PRESETS: readonly Preset[] = ["micro", "tiny", "qwen2-0.5b", "qwen2-1.5b"];
export const WEIGHT_DTYPES: readonly WeightDtype[] = ["f32", "bf16", "f16"];

/** The Qwen2 vocabulary's embedding size (151,643 BPE tokens and the specials, padded). */
export const QWEN2_VOCAB = 151936;
/** The micro preset's vocabulary: token ids only, no tokenizer. */
export const MICRO_VOCAB = 256;

export interface ModelSpec {
  readonly arch: Arch;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** Bias on q, k and v (Qwen2). */
  readonly qkvBias: boolean;
  readonly tieWordEmbeddings: boolean;
}

interface Shape {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly maxPositions: number;
}

/**
 * The presets' shapes. `tiny` keeps head_dim at 16 (onnxruntime's CPU
 * GroupQueryAttention needs a multiple of 16) with fewer KV heads than query
 * heads, so GQA is exercised; the others are the real Qwen2 shapes. `micro`
 * is `tiny` shrunk, vocabulary included, to 110-140 KB of f32 weights, so
 * that copies of it in other checkpoint formats can be committed as test
 * files; its 256 token ids have no tokenizer.
 */
function presetShape(preset: Preset): Shape {
  switch (preset) {
    case "micro":
      return { vocabSize: MICRO_VOCAB, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 2, numKvHeads: 1, maxPositions: 256 };
    case "tiny":
      return { vocabSize: QWEN2_VOCAB, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositions: 4096 };
    case "qwen2-0.5b":
      return { vocabSize: QWEN2_VOCAB, hiddenSize: 896, intermediateSize: 4864, numLayers: 24, numHeads: 14, numKvHeads: 2, maxPositions: 32768 };
    case "qwen2-1.5b":
      return { vocabSize: QWEN2_VOCAB, hiddenSize: 1536, intermediateSize: 8960, numLayers: 28, numHeads: 12, numKvHeads: 2, maxPositions: 32768 };
    default:
      return assertNever(preset);
  }
}

/**
 * The spec for `arch` at `preset`'s shapes. Qwen2: q/k/v bias, rope_theta
 * 1e6, eps 1e-6, tied embeddings. Llama: no bias, rope_theta 10000, eps 1e-5,
 * and an untied lm_head (so that code path gets exercised) unless
 * `tieWordEmbeddings` says otherwise.
 */
export function modelSpec(arch: Arch, preset: Preset, tieWordEmbeddings?: boolean): ModelSpec {
  const s = presetShape(preset);
  const common = { ...s, headDim: s.hiddenSize / s.numHeads };
  switch (arch) {
    case "qwen2":
      return { ...common, arch, rmsNormEps: 1e-6, ropeTheta: 1e6, qkvBias: true, tieWordEmbeddings: tieWordEmbeddings ?? true };
    case "llama":
      return { ...common, arch, rmsNormEps: 1e-5, ropeTheta: 10000, qkvBias: false, tieWordEmbeddings: tieWordEmbeddings ?? false };
    default:
      return assertNever(arch);
  }
}

/** A tensor of the checkpoint with the normal distribution its values are drawn from. */
export interface ParamSpec {
  /** Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  readonly name: string;
  readonly shape: readonly number[];
  readonly mean: number;
  readonly std: number;
}

/*
 * The initialization is chosen so that a random model behaves like a trained
 * one where tests can tell: peaked next-token distributions that depend on
 * every token of the prompt and on their order, rather than near-uniform
 * logits or a copy of the last input token. Every projection reads an
 * RMS-normalized input (components of variance about 1):
 * - Token embeddings are small (std 0.02), so the residual stream is soon
 *   dominated by what attention and the MLP write, and with tied embeddings
 *   the final hidden state is not an echo of the last input embedding.
 * - q and k have std sqrt(SCORE_STD / hidden): attention scores then have a
 *   std of about SCORE_STD, so attention is selective, not uniform, and
 *   rotary position matters.
 * - The final norm weight is large (LOGIT_STD / (0.02 * sqrt(hidden))): the
 *   logits get a std of about LOGIT_STD, which over 151,936 tokens puts a
 *   clear winner on top.
 * - Norm weights and biases are visibly non-trivial (1 +- 0.1, std 0.5), so
 *   forgetting to apply one changes the output.
 */
const EMBED_STD = 0.02;
const SCORE_STD = 4;
const LOGIT_STD = 6;
const NORM_JITTER = 0.1;
const BIAS_STD = 0.5;

/** Every tensor of the checkpoint, in the order @oar/modeling's decoderParams lists them. */
export function paramSpecs(spec: ModelSpec): ParamSpec[] {
  const h = spec.hiddenSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const params: ParamSpec[] = [{ name: "model.embed_tokens.weight", shape: [spec.vocabSize, h], mean: 0, std: EMBED_STD }];
  const norm = (name: string): void => {
    params.push({ name, shape: [h], mean: 1, std: NORM_JITTER });
  };
  const linear = (name: string, out: number, inp: number, std: number, bias: boolean): void => {
    params.push({ name: `${name}.weight`, shape: [out, inp], mean: 0, std });
    if (bias) params.push({ name: `${name}.bias`, shape: [out], mean: 0, std: BIAS_STD });
  };
  const qkStd = Math.sqrt(SCORE_STD / h);
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`);
    linear(`${p}.self_attn.q_proj`, qDim, h, qkStd, spec.qkvBias);
    linear(`${p}.self_attn.k_proj`, kvDim, h, qkStd, spec.qkvBias);
    linear(`${p}.self_attn.v_proj`, kvDim, h, 1 / Math.sqrt(h), spec.qkvBias);
    linear(`${p}.self_attn.o_proj`, h, qDim, 1 / Math.sqrt(qDim), false);
    norm(`${p}.post_attention_layernorm.weight`);
    linear(`${p}.mlp.gate_proj`, spec.intermediateSize, h, 1 / Math.sqrt(h), false);
    linear(`${p}.mlp.up_proj`, spec.intermediateSize, h, 1 / Math.sqrt(h), false);
    linear(`${p}.mlp.down_proj`, h, spec.intermediateSize, 1 / Math.sqrt(spec.intermediateSize), false);
  }
  const finalScale = LOGIT_STD / (EMBED_STD * Math.sqrt(h));
  params.push({ name: "model.norm.weight", shape: [h], mean: finalScale, std: finalScale * NORM_JITTER });
  if (!spec.tieWordEmbeddings) params.push({ name: "lm_head.weight", shape: [spec.vocabSize, h], mean: 0, std: EMBED_STD });
  return params;
}
