import { createRng } from "@oar/generation";
import {
  AdapterError,
  evaluatePaddleProjection,
  linearModules,
  prefixFromPaddle,
  readDecoderConfig,
  writePaddleLora,
  writePaddlePrefix,
  writePeftLora,
  writePeftPrefix,
  type AdapterDtype,
  type DecoderConfig,
  type LoraUpdate,
  type PaddlePrefixProjection,
  type PrefixCache,
} from "@oar/modeling";

/** The two on-disk encodings. */
export type AdapterFormatName = "peft" | "paddle";
export const FORMATS: readonly AdapterFormatName[] = ["peft", "paddle"];

/** The projections LoRA can target, by their Hugging Face module name suffix. */
export const LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const ADAPTER_DTYPES: readonly AdapterDtype[] = ["f32", "f16", "bf16"];

interface Common {
  /** The checkpoint the adapter is for: its config.json gives the shapes. */
  readonly modelDir: string;
  /** The adapter directory: created if missing; must be empty unless `overwrite`. */
  readonly outDir: string;
  readonly format: AdapterFormatName;
  /** Same seed, same values, in either format (default 0). */
  readonly seed?: number;
  /** Multiplies every random value (default 1). */
  readonly std?: number;
  /** Tensor element type (default f32). */
  readonly dtype?: AdapterDtype;
  readonly overwrite?: boolean;
}

export interface MakeLoraOptions extends Common {
  /** Default 8. */
  readonly rank?: number;
  /** Default 2 * rank, so the scaling is 2 (alpha / sqrt(rank) with rslora). */
  readonly alpha?: number;
  readonly rslora?: boolean;
  /** Default: all seven projections of every layer. */
  readonly targets?: readonly LoraTarget[];
  /** lora_B all zero, as PEFT and PaddleNLP initialize it: an adapter that changes nothing. */
  readonly zero?: boolean;
  /** PaddleNLP only: split the weights into this many shards with an index (default 1). */
  readonly shards?: number;
}

/**
 * Writes a random LoRA adapter for the checkpoint at `modelDir`. The values
 * depend on the seed, rank and modules only, so the PEFT and PaddleNLP
 * encodings made with the same options hold the same adapter. A's rows have
 * a standard deviation of std / sqrt(in_features) and B's of 1 / sqrt(rank),
 * so scale * B A is about as large as the base weights.
 */
export function makeLora(options: MakeLoraOptions): void {
  const cfg = readConfig(options.modelDir);
  const rank = options.rank ?? 8;
  if (!Number.isSafeInteger(rank) || rank <= 0) throw new AdapterError(`rank must be a positive integer, got ${rank}`);
  const alpha = options.alpha ?? 2 * rank;
  if (!Number.isFinite(alpha)) throw new AdapterError(`lora_alpha must be a number, got ${alpha}`);
  const seed = checkSeed(options.seed ?? 0);
  const std = checkStd(options.std ?? 1);
  const targets = options.targets ?? LORA_TARGETS;
  if (targets.length === 0) throw new AdapterError("a LoRA adapter needs at least one target module");
  for (const t of targets) {
    if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new AdapterError(`target module "${t}" is not one of ${LORA_TARGETS.join(", ")}`);
  }
  const all = linearModules(cfg);
  const updates: LoraUpdate[] = [];
  all.forEach((m, i) => {
    if (!targets.some((t) => m.name.endsWith(`.${t}`))) return;
    // Streams by the module's index among all linear layers: a module's values do not depend on which others are targeted.
    updates.push({
      module: m.name,
      a: uniform(rank * m.inFeatures, std / Math.sqrt(m.inFeatures), seed, 2 * i),
      b: options.zero === true ? new Float32Array(m.outFeatures * rank) : uniform(m.outFeatures * rank, 1 / Math.sqrt(rank), seed, 2 * i + 1),
    });
  });
  const write = {
    dir: options.outDir,
    cfg,
    rank,
    alpha,
    rslora: options.rslora ?? false,
    updates,
    dtype: options.dtype ?? "f32",
    overwrite: options.overwrite ?? false,
    baseModel: options.modelDir,
  };
  switch (options.format) {
    case "peft":
      if (options.shards !== undefined && options.shards !== 1) throw new AdapterError("shards: PEFT writes one adapter_model.safetensors; sharding is PaddleNLP's");
      writePeftLora(write);
      break;
    case "paddle":
      writePaddleLora({ ...write, shards: options.shards ?? 1 });
      break;
  }
}

export interface MakePrefixOptions extends Common {
  /** Default 8. */
  readonly tokens?: number;
  /**
   * Generate the weights of PaddleNLP's projecting encoder (Embedding,
   * Linear, Tanh, Linear) with this hidden size and use its output, instead
   * of random keys and values. PEFT saves that output (prefix_projection true).
   */
  readonly projectionHidden?: number;
  /** PaddleNLP only: write pre_caches.npy (default true). */
  readonly preCaches?: boolean;
  /** PaddleNLP only: write the encoder's weights to peft_model.safetensors (default true). */
  readonly weights?: boolean;
}

/**
 * Writes a random prefix-tuning adapter for the checkpoint at `modelDir`.
 * Keys and values (or the projecting encoder's weights) depend on the seed
 * and sizes only, so both formats hold the same prefix.
 */
export function makePrefix(options: MakePrefixOptions): void {
  const cfg = readConfig(options.modelDir);
  const tokens = options.tokens ?? 8;
  if (!Number.isSafeInteger(tokens) || tokens <= 0) throw new AdapterError(`num_prefix_tokens must be a positive integer, got ${tokens}`);
  const seed = checkSeed(options.seed ?? 0);
  const std = checkStd(options.std ?? 1);
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const shape = { tokens, layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  const common = { dir: options.outDir, cfg, dtype: options.dtype ?? "f32", overwrite: options.overwrite ?? false };
  let projection: PaddlePrefixProjection | null = null;
  if (options.projectionHidden !== undefined) {
    const hidden = options.projectionHidden;
    if (!Number.isSafeInteger(hidden) || hidden <= 0) throw new AdapterError(`prefix_projection_hidden_size must be a positive integer, got ${hidden}`);
    const out = 2 * cfg.numLayers * kvDim;
    projection = {
      embedding: uniform(tokens * kvDim, std, seed, 0),
      w1: uniform(kvDim * hidden, 2 / Math.sqrt(kvDim), seed, 1),
      b1: uniform(hidden, 0.1, seed, 2),
      w2: uniform(hidden * out, (2 * std) / Math.sqrt(hidden), seed, 3),
      b2: uniform(out, 0.1 * std, seed, 4),
      hidden,
    };
  }
  switch (options.format) {
    case "peft": {
      if (options.preCaches !== undefined || options.weights !== undefined) {
        throw new AdapterError("pre_caches and encoder weights are PaddleNLP's files; PEFT saves prompt_embeddings only");
      }
      const prefix = projection === null ? randomPrefix(cfg, tokens, seed, std) : prefixFromPaddle(evaluatePaddleProjection(projection, shape), shape);
      writePeftPrefix({ ...common, prefix, projection: projection !== null, baseModel: options.modelDir });
      break;
    }
    case "paddle":
      writePaddlePrefix({
        ...common,
        encoder: projection === null ? { kind: "embedding", prefix: randomPrefix(cfg, tokens, seed, std) } : { kind: "projection", tokens, weights: projection },
        preCaches: options.preCaches ?? true,
        weights: options.weights ?? true,
      });
      break;
  }
}

function readConfig(modelDir: string): DecoderConfig {
  try {
    return readDecoderConfig(modelDir);
  } catch (e) {
    throw new AdapterError((e as Error).message);
  }
}

function checkSeed(seed: number): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new AdapterError(`seed must be a non-negative integer, got ${seed}`);
  return seed;
}

function checkStd(std: number): number {
  if (!Number.isFinite(std) || std < 0) throw new AdapterError(`std must be a non-negative number, got ${std}`);
  return std;
}

/** Keys and values uniform with standard deviation `std`, layer by layer. */
function randomPrefix(cfg: DecoderConfig, tokens: number, seed: number, std: number): PrefixCache {
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    keys.push(uniform(tokens * kvDim, std, seed, 2 * l));
    values.push(uniform(tokens * kvDim, std, seed, 2 * l + 1));
  }
  return { length: tokens, keys, values };
}

/** n values uniform in [-std*sqrt(3), std*sqrt(3)) (standard deviation std), from stream `stream` of `seed`. */
function uniform(n: number, std: number, seed: number, stream: number): Float32Array {
  const rng = createRng(seed, stream);
  const half = std * Math.sqrt(3);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.nextFloat() - 1) * half;
  return out;
}
