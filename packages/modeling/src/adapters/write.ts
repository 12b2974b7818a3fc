import * as fs from "node:fs";
import * as path from "node:path";
import { cast, numel, tensor, writeSafetensors, type Tensor } from "@oar/tensor";
import type { DecoderConfig } from "../config.js";
import type { PrefixCache } from "../eager/model.js";
import { AdapterError } from "./errors.js";
import { ADAPTER_FILES } from "./load.js";
import { transpose } from "./matrix.js";
import { loraScale } from "./lora.js";
import { linearModules, paddleRoot } from "./modules.js";
import { writeNpy } from "./npy.js";
import { evaluatePaddleProjection, prefixFromPaddle, prefixToPaddle, prefixToPeft, prefixToPreCaches, type PaddlePrefixProjection, type PrefixShape } from "./prefix-layout.js";

/*
 * Writers for the formats loadAdapters reads, as PEFT and PaddleNLP save
 * them (same file names, tensor names, layouts and config keys), so that a
 * test or a tool can encode one adapter both ways.
 */

/** The element type tensors are stored in. */
export type AdapterDtype = "f32" | "f16" | "bf16";

/** A LoRA update to write, in Hugging Face layout. */
export interface LoraUpdate {
  /** Hugging Face module name, e.g. "model.layers.0.self_attn.q_proj". */
  readonly module: string;
  readonly a: Float32Array; // [rank, in]
  readonly b: Float32Array; // [out, rank]
}

export interface LoraWriteOptions {
  /** The adapter directory: created if missing; must be empty unless `overwrite`. */
  readonly dir: string;
  readonly cfg: DecoderConfig;
  /** One rank for every update. */
  readonly rank: number;
  readonly alpha: number;
  readonly rslora?: boolean;
  readonly updates: readonly LoraUpdate[];
  readonly dtype?: AdapterDtype;
  /** Replace the files of an adapter already in `dir`. */
  readonly overwrite?: boolean;
  /** Recorded as base_model_name_or_path. */
  readonly baseModel?: string;
}

/** Writes adapter_config.json and adapter_model.safetensors, as PEFT's save_pretrained does. */
export function writePeftLora(options: LoraWriteOptions): void {
  const shapes = checkUpdates(options);
  prepareDir(options.dir, options.overwrite ?? false);
  const targets = targetNames(options.cfg, options.updates);
  writeJson(path.join(options.dir, ADAPTER_FILES.peftConfig), {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: options.baseModel ?? null,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: options.alpha,
    lora_dropout: 0.0,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: null,
    peft_type: "LORA",
    r: options.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...new Set(targets.map((t) => (t.allLayers ? t.suffix : t.module)))].sort(),
    task_type: "CAUSAL_LM",
    use_dora: false,
    use_rslora: options.rslora ?? false,
  });
  const dtype = options.dtype ?? "f32";
  const tensors: [string, Tensor][] = [];
  for (const u of options.updates) {
    const [out, inF] = shapes.get(u.module)!;
    tensors.push([`base_model.model.${u.module}.lora_A.weight`, stored(dtype, [options.rank, inF], u.a)]);
    tensors.push([`base_model.model.${u.module}.lora_B.weight`, stored(dtype, [out, options.rank], u.b)]);
  }
  writeSafetensors(path.join(options.dir, ADAPTER_FILES.peftWeights), tensors, { format: "pt" });
}

/**
 * Writes lora_config.json and peft_model.safetensors (or `shards` files
 * with peft_model.safetensors.index.json), as PaddleNLP's unified
 * checkpoint does: Paddle layer names, lora_A [in, r], lora_B [r, out].
 */
export function writePaddleLora(options: LoraWriteOptions & { readonly shards?: number }): void {
  const shapes = checkUpdates(options);
  const root = paddleRoot(options.cfg, options.dir);
  prepareDir(options.dir, options.overwrite ?? false);
  const rslora = options.rslora ?? false;
  const targets = targetNames(options.cfg, options.updates);
  const paddleName = (module: string): string => `${root}.${module.slice("model.".length)}`;
  const patterns = [...new Set(targets.map((t) => (t.allLayers ? `.*${t.suffix}.*` : paddleName(t.module).replaceAll(".", "\\."))))].sort();
  writeJson(path.join(options.dir, ADAPTER_FILES.paddleLoraConfig), {
    base_model_name_or_path: options.baseModel ?? null,
    do_qat: false,
    dtype: "float32",
    enable_lora_list: null,
    head_dim: null,
    lora_alpha: options.alpha,
    lora_dropout: 0.05,
    lora_plus_scale: 1.0,
    lora_use_mixer: false,
    merge_weights: false,
    pissa: false,
    r: options.rank,
    rslora,
    scaling: loraScale({ alpha: options.alpha, rank: options.rank, rslora }),
    target_modules: patterns,
    tensor_parallel_degree: -1,
    trainable_bias: null,
    trainable_modules: null,
    use_mora: false,
    use_quick_lora: false,
  });
  const dtype = options.dtype ?? "f32";
  const tensors: [string, Tensor][] = [];
  for (const u of options.updates) {
    const [out, inF] = shapes.get(u.module)!;
    const name = paddleName(u.module);
    tensors.push([`${name}.lora_A`, stored(dtype, [inF, options.rank], transpose(u.a, options.rank, inF))]);
    tensors.push([`${name}.lora_B`, stored(dtype, [options.rank, out], transpose(u.b, out, options.rank))]);
  }
  writePaddleWeights(options.dir, tensors, options.shards ?? 1);
}

export interface PeftPrefixWriteOptions {
  readonly dir: string;
  readonly cfg: DecoderConfig;
  readonly prefix: PrefixCache;
  /** Recorded in the config; PEFT saves the projected keys and values either way. */
  readonly projection?: boolean;
  readonly dtype?: AdapterDtype;
  readonly overwrite?: boolean;
  readonly baseModel?: string;
}

/** Writes a PEFT prefix-tuning adapter: prompt_embeddings [tokens, layers*2*kv_dim], per layer key then value. */
export function writePeftPrefix(options: PeftPrefixWriteOptions): void {
  const { cfg, prefix } = options;
  const shape = checkPrefix(cfg, prefix, options.dir);
  prepareDir(options.dir, options.overwrite ?? false);
  const kvDim = cfg.numKvHeads * cfg.headDim;
  writeJson(path.join(options.dir, ADAPTER_FILES.peftConfig), {
    auto_mapping: null,
    base_model_name_or_path: options.baseModel ?? null,
    encoder_hidden_size: kvDim,
    inference_mode: true,
    num_attention_heads: cfg.numKvHeads,
    num_layers: cfg.numLayers,
    num_transformer_submodules: 1,
    num_virtual_tokens: prefix.length,
    peft_type: "PREFIX_TUNING",
    prefix_projection: options.projection ?? false,
    revision: null,
    task_type: "CAUSAL_LM",
    token_dim: kvDim,
  });
  const embeddings = stored(options.dtype ?? "f32", [prefix.length, cfg.numLayers * 2 * kvDim], prefixToPeft(prefix, shape));
  writeSafetensors(path.join(options.dir, ADAPTER_FILES.peftWeights), [["prompt_embeddings", embeddings]], { format: "pt" });
}

/** PaddleNLP's prefix encoder: the keys and values as an embedding, or the projecting MLP. */
export type PaddlePrefixEncoder =
  | { readonly kind: "embedding"; readonly prefix: PrefixCache }
  | { readonly kind: "projection"; readonly tokens: number; readonly weights: PaddlePrefixProjection };

export interface PaddlePrefixWriteOptions {
  readonly dir: string;
  readonly cfg: DecoderConfig;
  readonly encoder: PaddlePrefixEncoder;
  /** Write the encoder's weights to peft_model.safetensors (default true). */
  readonly weights?: boolean;
  /** Write pre_caches.npy, the encoder's output [layers, 2, kv_heads, tokens, head_dim] (default true, as save_pretrained does). */
  readonly preCaches?: boolean;
  readonly dtype?: AdapterDtype;
  readonly overwrite?: boolean;
}

/** Writes a PaddleNLP prefix-tuning adapter: prefix_config.json, the encoder's weights and/or pre_caches.npy. */
export function writePaddlePrefix(options: PaddlePrefixWriteOptions): void {
  const { cfg, encoder } = options;
  const withWeights = options.weights ?? true;
  const withNpy = options.preCaches ?? true;
  if (!withWeights && !withNpy) throw new AdapterError(`${options.dir}: a PaddleNLP prefix needs its weights, pre_caches.npy, or both`);
  if (cfg.hiddenSize !== cfg.numHeads * cfg.headDim) {
    throw new AdapterError(`${options.dir}: prefix_config.json derives head_dim from hidden_size / num_attention_heads, which is not this model's head_dim ${cfg.headDim}`);
  }
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const tokens = encoder.kind === "embedding" ? encoder.prefix.length : encoder.tokens;
  const shape: PrefixShape = { tokens, layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  let prefix: PrefixCache;
  const dtype = options.dtype ?? "f32";
  const tensors: [string, Tensor][] = [];
  switch (encoder.kind) {
    case "embedding":
      checkPrefix(cfg, encoder.prefix, options.dir);
      prefix = encoder.prefix;
      tensors.push(["0.weight", stored(dtype, [tokens, 2 * cfg.numLayers * kvDim], prefixToPaddle(prefix, shape))]);
      break;
    case "projection": {
      const w = encoder.weights;
      const out = 2 * cfg.numLayers * kvDim;
      tensors.push(["0.weight", stored(dtype, [tokens, kvDim], w.embedding)]);
      tensors.push(["1.weight", stored(dtype, [kvDim, w.hidden], w.w1)]);
      tensors.push(["1.bias", stored(dtype, [w.hidden], w.b1)]);
      tensors.push(["3.weight", stored(dtype, [w.hidden, out], w.w2)]);
      tensors.push(["3.bias", stored(dtype, [out], w.b2)]);
      // What PaddleNLP saves to pre_caches.npy is the output of the weights as stored.
      const asStored = (t: Tensor): Float32Array => cast(t, "f32").data;
      const byName = new Map(tensors);
      const output = evaluatePaddleProjection(
        { embedding: asStored(byName.get("0.weight")!), w1: asStored(byName.get("1.weight")!), b1: asStored(byName.get("1.bias")!), w2: asStored(byName.get("3.weight")!), b2: asStored(byName.get("3.bias")!), hidden: w.hidden },
        shape,
      );
      prefix = prefixFromPaddle(output, shape);
      break;
    }
  }
  prepareDir(options.dir, options.overwrite ?? false);
  writeJson(path.join(options.dir, ADAPTER_FILES.paddlePrefixConfig), {
    dtype: "float32",
    hidden_size: cfg.hiddenSize,
    multi_query_group_num: cfg.numKvHeads,
    num_attention_heads: cfg.numHeads,
    num_hidden_layers: cfg.numLayers,
    num_prefix_tokens: tokens,
    prefix_dropout: 0.0,
    prefix_projection: encoder.kind === "projection",
    prefix_projection_hidden_size: encoder.kind === "projection" ? encoder.weights.hidden : null,
    tensor_parallel_degree: -1,
  });
  if (withWeights) writePaddleWeights(options.dir, tensors, 1);
  if (withNpy) {
    writeNpy(path.join(options.dir, ADAPTER_FILES.paddlePreCaches), {
      shape: [cfg.numLayers, 2, cfg.numKvHeads, tokens, cfg.headDim],
      data: prefixToPreCaches(prefix, shape),
      dtype: dtype === "f32" ? "<f4" : "<f2",
    });
  }
}

/** Checks each update against the module it names; returns module -> [out, in]. */
function checkUpdates(options: LoraWriteOptions): Map<string, readonly [number, number]> {
  const linear = new Map(linearModules(options.cfg).map((m) => [m.name, [m.outFeatures, m.inFeatures] as const]));
  if (!Number.isSafeInteger(options.rank) || options.rank <= 0) throw new AdapterError(`${options.dir}: rank must be a positive integer, got ${options.rank}`);
  if (options.updates.length === 0) throw new AdapterError(`${options.dir}: a LoRA adapter needs at least one update`);
  const seen = new Set<string>();
  for (const u of options.updates) {
    const shape = linear.get(u.module);
    if (shape === undefined) throw new AdapterError(`${options.dir}: "${u.module}" is not a linear layer of this model`);
    if (seen.has(u.module)) throw new AdapterError(`${options.dir}: "${u.module}" is given twice`);
    seen.add(u.module);
    const [out, inF] = shape;
    if (u.a.length !== options.rank * inF || u.b.length !== out * options.rank) {
      throw new AdapterError(`${options.dir}: update of ${u.module} must be A [${options.rank}, ${inF}] and B [${out}, ${options.rank}], got ${u.a.length} and ${u.b.length} elements`);
    }
  }
  return linear;
}

/** Each update's module, its last name part, and whether the adapter has that part in every layer. */
function targetNames(cfg: DecoderConfig, updates: readonly LoraUpdate[]): { module: string; suffix: string; allLayers: boolean }[] {
  const bySuffix = new Map<string, number>();
  const suffixOf = (m: string): string => m.slice(m.lastIndexOf(".") + 1);
  for (const u of updates) bySuffix.set(suffixOf(u.module), (bySuffix.get(suffixOf(u.module)) ?? 0) + 1);
  return updates.map((u) => ({ module: u.module, suffix: suffixOf(u.module), allLayers: bySuffix.get(suffixOf(u.module)) === cfg.numLayers }));
}

function checkPrefix(cfg: DecoderConfig, prefix: PrefixCache, where: string): PrefixShape {
  const kvDim = cfg.numKvHeads * cfg.headDim;
  if (!Number.isSafeInteger(prefix.length) || prefix.length <= 0) throw new AdapterError(`${where}: a prefix needs at least one position, got ${prefix.length}`);
  if (prefix.keys.length !== cfg.numLayers || prefix.values.length !== cfg.numLayers) {
    throw new AdapterError(`${where}: the prefix has ${prefix.keys.length} layers of keys and ${prefix.values.length} of values, the model ${cfg.numLayers}`);
  }
  for (const part of [...prefix.keys, ...prefix.values]) {
    if (part.length !== prefix.length * kvDim) throw new AdapterError(`${where}: each prefix layer must hold [${prefix.length}, ${kvDim}], found ${part.length} elements`);
  }
  return { tokens: prefix.length, layers: cfg.numLayers, kvHeads: cfg.numKvHeads, headDim: cfg.headDim };
}

function stored(dtype: AdapterDtype, shape: readonly number[], data: Float32Array): Tensor {
  if (data.length !== numel(shape)) throw new AdapterError(`tensor of shape [${shape.join(", ")}] needs ${numel(shape)} elements, got ${data.length}`);
  return cast(tensor("f32", shape, data), dtype);
}

function writePaddleWeights(dir: string, tensors: readonly [string, Tensor][], shards: number): void {
  if (!Number.isSafeInteger(shards) || shards < 1 || shards > tensors.length) {
    throw new AdapterError(`${dir}: shards must be between 1 and the number of tensors (${tensors.length}), got ${shards}`);
  }
  if (shards === 1) {
    writeSafetensors(path.join(dir, ADAPTER_FILES.paddleWeights), tensors, { format: "np" });
    return;
  }
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  const per = Math.ceil(tensors.length / shards);
  for (let s = 0; s < shards; s++) {
    const file = `peft_model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    for (const [name, t] of part) {
      weightMap[name] = file;
      totalSize += t.data.byteLength;
    }
    writeSafetensors(path.join(dir, file), part, { format: "np" });
  }
  writeJson(path.join(dir, ADAPTER_FILES.paddleWeightsIndex), { metadata: { total_size: totalSize }, weight_map: weightMap });
}

/** Creates `dir`, or empties the adapter files of one already there when `overwrite`; refuses other non-empty directories. */
function prepareDir(dir: string, overwrite: boolean): void {
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir);
    if (entries.length > 0 && !overwrite) throw new AdapterError(`${dir}: not empty (pass overwrite to replace the adapter files there)`);
    const ours = new Set<string>(Object.values(ADAPTER_FILES));
    for (const f of entries) {
      if (ours.has(f) || /^peft_model-\d+-of-\d+\.safetensors$/.test(f)) fs.rmSync(path.join(dir, f));
    }
  }
  fs.mkdirSync(dir, { recursive: true });
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}
