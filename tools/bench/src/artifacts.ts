/**
 * Makes or reuses what configurations run on: the preset checkpoints
 * (bf16 safetensors, random weights), their exported inference directories
 * and GGUF files of the same shapes. Everything lives under the cache root
 * (./cache.ts), outside the repository.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { exportModel, type QuantType } from "@oar/export";
import { cachedTinyModel, modelSpec } from "@oar/make-tiny-model";
import { assertNever } from "@oar/tensor";
import { cachedPath, cacheRoot, codeDigest, diskBytes, fileDigest } from "./cache.js";
import type { BenchPreset, ExportWeights, GgufType } from "./configs.js";

/** The checkpoint of a preset (made on first use: about 15 s for 0.5B, 40 s for 1.5B). */
export function checkpointDir(preset: BenchPreset): string {
  return cachedTinyModel({ arch: "qwen2", preset, dtype: "bf16" });
}

/** Bytes of a checkpoint's safetensors files. */
export function checkpointBytes(dir: string): number {
  return diskBytes(fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).map((f) => path.join(dir, f)));
}

export function quantTypeOf(weights: ExportWeights): QuantType | null {
  switch (weights) {
    case "f32":
      return null;
    case "int8":
      return "weight_only_int8";
    case "int4":
      return "weight_only_int4";
    default:
      return assertNever(weights);
  }
}

let exportDigest: string | null = null;

/**
 * The inference directory of `preset` exported with `weights` (the
 * exporter's default quantization settings), fused with --inference_model
 * or not; re-made whenever the exporter's or the model definition's code
 * changes.
 */
export async function exportDir(
  preset: BenchPreset,
  options: { readonly weights: ExportWeights; readonly fused: boolean; readonly onProgress?: (line: string) => void },
): Promise<string> {
  exportDigest ??= codeDigest(["@oar/export", "@oar/modeling", "@oar/tensor"]);
  const modelDir = checkpointDir(preset);
  const name = `${options.weights}-${options.fused ? "fused" : "unfused"}-${exportDigest}`;
  const target = path.join(cacheRoot(), "bench-exports", path.basename(modelDir), name);
  const dir = await cachedPath(target, async (work) => {
    options.onProgress?.(`exporting ${preset} ${options.weights} ${options.fused ? "fused" : "unfused"} to ${target}`);
    await exportModel({ modelDir, outputDir: work, quantType: quantTypeOf(options.weights), inferenceModel: options.fused });
  });
  // Exports an older exporter made of this graph, or made of an older checkpoint of this preset, are never
  // used again, and weigh gigabytes.
  removeStale(path.dirname(target), `${options.weights}-${options.fused ? "fused" : "unfused"}-`, name);
  removeStale(path.dirname(path.dirname(target)), path.basename(modelDir).replace(/[0-9a-f]+$/, ""), path.basename(modelDir));
  return dir;
}

/** Removes the entries of `parent` named `prefix`... other than `keep`. */
function removeStale(parent: string, prefix: string, keep: string): void {
  for (const entry of fs.readdirSync(parent)) {
    if (entry.startsWith(prefix) && entry !== keep) fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
  }
}

/** The graph files of an inference directory (model.onnx and its external data). */
export function graphBytes(dir: string): number {
  return diskBytes(["model.onnx", "model.onnx.data"].map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f)));
}

/** ../shared/tools/gguf_qwen2.py beside the repository (OAR_GGUF_TOOL overrides). */
export function ggufTool(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // tools/bench/dist -> the repository's parent is four levels up.
  return process.env["OAR_GGUF_TOOL"] ?? path.resolve(here, "../../../../shared/tools/gguf_qwen2.py");
}

/** Why GGUF files cannot be made here (no python3, no numpy, no tool), or null when they can. */
export function ggufUnavailable(): string | null {
  const tool = ggufTool();
  if (!fs.existsSync(tool)) return `${tool} is absent (set OAR_GGUF_TOOL to gguf_qwen2.py)`;
  const probe = spawnSync("python3", ["-c", "import numpy"], { encoding: "utf8" });
  if (probe.error !== undefined) return `python3 is not installed (${probe.error.message}); it writes the GGUF files llama.cpp runs`;
  if (probe.status !== 0) return "python3 has no numpy (pip install numpy); gguf_qwen2.py needs it to write the GGUF files llama.cpp runs";
  return null;
}

/**
 * A GGUF file with `preset`'s shapes (random weights, the Qwen2 vocabulary)
 * whose matrices, token embedding included, are `type`. gguf_qwen2.py's
 * command line writes Qwen2-0.5B shapes only, so its writer is called with
 * the preset's shapes.
 */
export async function ggufFile(preset: BenchPreset, type: GgufType, onProgress?: (line: string) => void): Promise<string> {
  const tool = ggufTool();
  const spec = modelSpec("qwen2", preset);
  const target = path.join(cacheRoot(), "bench-gguf", `${preset}-${type}-${fileDigest(tool)}.gguf`);
  return cachedPath(target, async (work) => {
    onProgress?.(`writing ${target} with ${tool}`);
    const cfg = {
      n_layer: spec.numLayers,
      n_embd: spec.hiddenSize,
      n_head: spec.numHeads,
      n_head_kv: spec.numKvHeads,
      n_ff: spec.intermediateSize,
      n_vocab: spec.vocabSize,
      n_ctx: spec.maxPositions,
      rope_theta: spec.ropeTheta,
      rms_eps: spec.rmsNormEps,
      eos: 151643,
    };
    const script = [
      "import json, sys",
      "sys.path.insert(0, sys.argv[1])",
      "import gguf_qwen2",
      "gguf_qwen2.write(sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], sys.argv[4], sys.argv[5], 0, 0.02)",
    ].join("\n");
    const tokenizer = path.join(checkpointDir(preset), "tokenizer.json");
    const r = spawnSync("python3", ["-c", script, path.dirname(tool), work, JSON.stringify(cfg), type, tokenizer], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (r.status !== 0) throw new Error(`${tool} failed writing ${preset} ${type} (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  });
}
