import * as fs from "node:fs";
import * as path from "node:path";
import type { DecoderConfig } from "../config.js";
import type { PrefixCache } from "../eager/model.js";
import { AdapterJson } from "./config-json.js";
import { AdapterError } from "./errors.js";
import type { LoraLayer } from "./lora.js";
import { readNpy } from "./npy.js";
import { readPaddleLora } from "./paddle-lora.js";
import { readPaddlePrefix } from "./paddle-prefix.js";
import { readPeftLora } from "./peft-lora.js";
import { readPeftPrefix } from "./peft-prefix.js";
import { openAdapterFile, openAdapterShards, type AdapterTensors } from "./tensor-file.js";

/** The file names each format uses. */
export const ADAPTER_FILES = {
  peftConfig: "adapter_config.json",
  peftWeights: "adapter_model.safetensors",
  paddleLoraConfig: "lora_config.json",
  paddlePrefixConfig: "prefix_config.json",
  paddleWeights: "peft_model.safetensors",
  paddleWeightsIndex: "peft_model.safetensors.index.json",
  paddlePreCaches: "pre_caches.npy",
} as const;

export type AdapterFormat = "peft-lora" | "peft-prefix" | "paddle-lora" | "paddle-prefix";

/** Where an adapter came from: for messages and an exported model's provenance. */
export interface AdapterSource {
  readonly dir: string;
  readonly format: AdapterFormat;
  /** The files read, relative to dir. */
  readonly files: readonly string[];
}

/** Every adapter of a run, in the eager model's terms. */
export interface Adapters {
  /** LoRA updates of all directories, in the order given; several on one module add up. */
  readonly lora: readonly LoraLayer[];
  /** The prefix, from at most one directory. */
  readonly prefix: PrefixCache | null;
  readonly sources: readonly AdapterSource[];
}

/**
 * Reads adapter directories for the model `cfg` describes. Each directory
 * holds one adapter, in PEFT's layout (adapter_config.json with peft_type
 * LORA or PREFIX_TUNING, adapter_model.safetensors) or PaddleNLP's
 * (lora_config.json or prefix_config.json with peft_model.safetensors,
 * its shards, or pre_caches.npy). LoRA adapters stack: their updates add.
 * At most one prefix may be given, since two prefixes have no agreed order
 * or positions.
 */
export function loadAdapters(dirs: readonly string[], cfg: DecoderConfig): Adapters {
  const lora: LoraLayer[] = [];
  let prefix: { cache: PrefixCache; dir: string } | null = null;
  const sources: AdapterSource[] = [];
  for (const dir of dirs) {
    const one = loadAdapter(dir, cfg);
    sources.push(one.source);
    switch (one.kind) {
      case "lora":
        lora.push(...one.layers);
        break;
      case "prefix":
        if (prefix !== null) {
          throw new AdapterError(`${dir}: a second prefix (the first came from ${prefix.dir}); prefixes do not stack, give one prefix directory`);
        }
        prefix = { cache: one.prefix, dir };
        break;
    }
  }
  return { lora, prefix: prefix?.cache ?? null, sources };
}

type OneAdapter =
  | { readonly kind: "lora"; readonly layers: LoraLayer[]; readonly source: AdapterSource }
  | { readonly kind: "prefix"; readonly prefix: PrefixCache; readonly source: AdapterSource };

/** Reads one adapter directory. */
function loadAdapter(dir: string, cfg: DecoderConfig): OneAdapter {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (e) {
    throw new AdapterError(`${dir}: cannot open adapter directory: ${(e as Error).message}`);
  }
  if (!stat.isDirectory()) throw new AdapterError(`${dir}: an adapter is a directory, this is a file`);
  const candidates = [ADAPTER_FILES.peftConfig, ADAPTER_FILES.paddleLoraConfig, ADAPTER_FILES.paddlePrefixConfig] as const;
  const configs = candidates.filter((f) => fs.existsSync(path.join(dir, f)));
  if (configs.length === 0) {
    throw new AdapterError(`${dir}: no ${ADAPTER_FILES.peftConfig} (PEFT), ${ADAPTER_FILES.paddleLoraConfig} or ${ADAPTER_FILES.paddlePrefixConfig} (PaddleNLP): not an adapter directory`);
  }
  if (configs.length > 1) throw new AdapterError(`${dir}: holds both ${configs.join(" and ")}; an adapter directory holds one adapter`);
  const configFile = configs[0]!;
  const json = AdapterJson.read(path.join(dir, configFile));
  switch (configFile) {
    case ADAPTER_FILES.peftConfig:
      return loadPeft(dir, json, cfg);
    case ADAPTER_FILES.paddleLoraConfig: {
      const { tensors, files } = openPaddleWeights(dir, "lora_model_state.pdparams");
      if (tensors === null) {
        throw new AdapterError(`${dir}: no ${ADAPTER_FILES.paddleWeights} or ${ADAPTER_FILES.paddleWeightsIndex} beside ${configFile}`);
      }
      try {
        const layers = readPaddleLora(json, tensors, cfg);
        return { kind: "lora", layers, source: { dir, format: "paddle-lora", files: [configFile, ...files] } };
      } finally {
        tensors.close();
      }
    }
    case ADAPTER_FILES.paddlePrefixConfig: {
      const npyFile = path.join(dir, ADAPTER_FILES.paddlePreCaches);
      const hasNpy = fs.existsSync(npyFile);
      const { tensors, files } = openPaddleWeights(dir, hasNpy ? null : "prefix_model_state.pdparams");
      try {
        const preCaches = hasNpy ? { file: npyFile, array: readNpy(npyFile) } : null;
        const prefix = readPaddlePrefix(json, { tensors, preCaches }, cfg);
        const read = [configFile, ...files, ...(hasNpy ? [ADAPTER_FILES.paddlePreCaches] : [])];
        return { kind: "prefix", prefix, source: { dir, format: "paddle-prefix", files: read } };
      } finally {
        tensors?.close();
      }
    }
  }
}

function loadPeft(dir: string, json: AdapterJson, cfg: DecoderConfig): OneAdapter {
  const peftType = json.raw("peft_type");
  if (peftType !== "LORA" && peftType !== "PREFIX_TUNING") {
    throw json.error("peft_type", `is ${JSON.stringify(peftType)}; Oar reads "LORA" and "PREFIX_TUNING" adapters`);
  }
  const weights = path.join(dir, ADAPTER_FILES.peftWeights);
  if (!fs.existsSync(weights)) {
    const bin = fs.existsSync(path.join(dir, "adapter_model.bin")) ? " (adapter_model.bin is a pickle, which Oar does not read; save the adapter with safe_serialization=True)" : "";
    throw new AdapterError(`${dir}: no ${ADAPTER_FILES.peftWeights} beside ${ADAPTER_FILES.peftConfig}${bin}`);
  }
  const tensors = openAdapterFile(weights);
  const files = [ADAPTER_FILES.peftConfig, ADAPTER_FILES.peftWeights];
  try {
    if (peftType === "LORA") return { kind: "lora", layers: readPeftLora(json, tensors, cfg), source: { dir, format: "peft-lora", files } };
    return { kind: "prefix", prefix: readPeftPrefix(json, tensors, cfg), source: { dir, format: "peft-prefix", files } };
  } finally {
    tensors.close();
  }
}

/**
 * PaddleNLP's unified-checkpoint weights: the index and its shards, or one
 * file. `pickle` names the .pdparams file PaddleNLP's plain save_pretrained
 * writes instead, reported when it is the only weights file there.
 */
function openPaddleWeights(dir: string, pickle: string | null): { tensors: AdapterTensors | null; files: string[] } {
  const index = path.join(dir, ADAPTER_FILES.paddleWeightsIndex);
  if (fs.existsSync(index)) {
    const tensors = openAdapterShards(index);
    return { tensors, files: [ADAPTER_FILES.paddleWeightsIndex, ...tensors.files] };
  }
  const single = path.join(dir, ADAPTER_FILES.paddleWeights);
  if (fs.existsSync(single)) return { tensors: openAdapterFile(single), files: [ADAPTER_FILES.paddleWeights] };
  if (pickle !== null && fs.existsSync(path.join(dir, pickle))) {
    throw new AdapterError(`${dir}: the weights are in ${pickle}, a pickle, which Oar does not read; save them as safetensors (PaddleNLP's unified checkpoint, ${ADAPTER_FILES.paddleWeights})`);
  }
  return { tensors: null, files: [] };
}
