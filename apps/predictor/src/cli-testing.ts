/**
 * Test support for the end-to-end tests: the real `predictor` bin run in a
 * child process, the tiny Qwen2-Instruct checkpoint they share, and a data
 * file of several kinds of prompts. Not exported from index.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type BinResult, runBin } from "@oar/cli/testing";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { readDecoderConfig, writePeftLora, writePeftPrefix } from "@oar/modeling";

/** apps/export-model/bin/export-model.js, and whether its program is built (the predictor does not depend on it). */
export const EXPORT_MODEL_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../export-model/bin/export-model.js");
export const EXPORT_MODEL_BUILT = fs.existsSync(path.resolve(path.dirname(EXPORT_MODEL_BIN), "../dist/main.js"));

/** apps/predictor/bin/predictor.js */
export const PREDICTOR_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/predictor.js");

/** The tiny random Qwen2-Instruct checkpoint (chat template, <|im_end|> as EOS), made once per machine. */
export function tinyInstructModel(): string {
  return cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
}

/** English, Chinese, a two-turn conversation, a target given as a list, a long prompt. */
export const SAMPLE_LINES: readonly string[] = [
  JSON.stringify({ src: "Give three tips for staying healthy.", tgt: "Eat well, move, sleep." }),
  JSON.stringify({ src: "解释一下“温故而知新”", tgt: "温习旧知识，获得新理解。" }),
  JSON.stringify({ src: ["What is the capital of France?", "Paris.", "And its population?"], tgt: ["About two million."] }),
  JSON.stringify({ src: "Write a haiku about the sea." }),
  JSON.stringify({ src: "目前全世界的经济都是为一个事情服务的，将有限的自然资源、人力资源和资本资源分配到不同的生产和服务领域，以最大化社会福利和经济效率。" }),
];


/** Runs the predictor. */
export function predictor(args: readonly string[], cwd: string): Promise<BinResult> {
  return runBin(PREDICTOR_BIN, args, { cwd });
}

/** The records of an output file. */
export function readOutput(file: string): { src: unknown; tgt: unknown; output: string }[] {
  const text = fs.readFileSync(file, "utf8");
  if (text !== "" && !text.endsWith("\n")) throw new Error(`${file} does not end in a newline`);
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { src: unknown; tgt: unknown; output: string });
}

/** Deterministic values in [-scale, scale). */
function values(n: number, seed: number, scale: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return v;
}

/**
 * Writes, under `root`, a PEFT LoRA adapter (rank 4 on q_proj and v_proj of
 * every layer) and a PEFT prefix of 4 positions for `model`, both large
 * enough to change greedy outputs.
 */
export function writeTestAdapters(root: string, model: string): { readonly lora: string; readonly prefix: string } {
  const cfg = readDecoderConfig(model);
  const rank = 4;
  const layers = Array.from({ length: cfg.numLayers }, (_, l) => l);
  const updates = ["q_proj", "v_proj"].flatMap((proj, p) =>
    layers.map((layer) => {
      const outFeatures = (proj === "q_proj" ? cfg.numHeads : cfg.numKvHeads) * cfg.headDim;
      return { module: `model.layers.${layer}.self_attn.${proj}`, a: values(rank * cfg.hiddenSize, 10 * layer + p + 1, 0.5), b: values(outFeatures * rank, 10 * layer + p + 5, 0.5) };
    }),
  );
  const lora = path.join(root, "lora");
  writePeftLora({ dir: lora, cfg, rank, alpha: 8, updates });
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const length = 4;
  const prefix = path.join(root, "prefix");
  writePeftPrefix({
    dir: prefix,
    cfg,
    prefix: { length, keys: layers.map((l) => values(length * kvDim, 100 + l, 2)), values: layers.map((l) => values(length * kvDim, 200 + l, 2)) },
  });
  return { lora, prefix };
}
