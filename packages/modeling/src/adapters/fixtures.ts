/**
 * Helpers for this directory's tests (not exported by index.ts; not named
 * like a test file, so `node --test` does not run it): a tiny model config,
 * deterministic random LoRA updates and prefixes, temporary directories.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRng } from "@oar/generation";
import { parseDecoderConfig } from "../architectures/index.js";
import type { DecoderConfig } from "../config.js";
import type { PrefixCache } from "../eager/model.js";
import { linearModules } from "./modules.js";
import type { LoraUpdate } from "./write.js";

/** The shapes of make-tiny-model's "tiny" preset (2 layers, 4 heads, 2 KV heads of 16), with a small vocabulary. */
export function tinyConfig(architecture: "Qwen2ForCausalLM" | "LlamaForCausalLM" = "Qwen2ForCausalLM"): DecoderConfig {
  return parseDecoderConfig({
    architectures: [architecture],
    vocab_size: 256,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: architecture === "Qwen2ForCausalLM",
  });
}

/** Uniform values in [-std*sqrt(3), std*sqrt(3)) (variance std^2) from stream `stream` of `seed`. */
export function uniform(n: number, std: number, seed: number, stream: number): Float32Array {
  const rng = createRng(seed, stream);
  const out = new Float32Array(n);
  const half = std * Math.sqrt(3);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.nextFloat() - 1) * half;
  return out;
}

/**
 * Random LoRA updates for the decoder's linear layers whose names end in one
 * of `suffixes` (default: all seven projections), with B A of about the
 * size of the base weights when scaled by `scale`.
 */
export function randomUpdates(cfg: DecoderConfig, options: { rank: number; seed: number; suffixes?: readonly string[]; std?: number }): LoraUpdate[] {
  const suffixes = options.suffixes ?? ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
  const std = options.std ?? 1;
  return linearModules(cfg)
    .filter((m) => suffixes.some((s) => m.name.endsWith(`.${s}`)))
    .map((m, i) => ({
      module: m.name,
      a: uniform(options.rank * m.inFeatures, std / Math.sqrt(m.inFeatures), options.seed, 2 * i),
      b: uniform(m.outFeatures * options.rank, 1 / Math.sqrt(options.rank), options.seed, 2 * i + 1),
    }));
}

/** A random prefix of `tokens` positions for this model. */
export function randomPrefix(cfg: DecoderConfig, tokens: number, seed: number, std = 1): PrefixCache {
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    keys.push(uniform(tokens * kvDim, std, seed, 2 * l));
    values.push(uniform(tokens * kvDim, std, seed, 2 * l + 1));
  }
  return { length: tokens, keys, values };
}

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-adapters-"));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Rewrites a JSON file through `edit`. */
export function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json));
}
