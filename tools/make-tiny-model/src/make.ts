import * as fs from "node:fs";
import * as path from "node:path";
import { type TensorPlan, assertNever, f32ArrayToBf16, f32ArrayToF16, numel, writeSafetensorsStreaming } from "@oar/tensor";
import { ENDOFTEXT_ID, IM_END_ID, configJson, generationConfigJson, prepareOutputDir, qwenTokenizerConfig, qwenTokenizerFiles, writeJson } from "./hf-files.js";
import { normalStream } from "./random.js";
import { type Arch, type ParamSpec, type Preset, QWEN2_VOCAB, type WeightDtype, modelSpec, paramSpecs } from "./spec.js";

export interface MakeTinyModelOptions {
  /** The checkpoint directory; created if missing. */
  readonly outDir: string;
  readonly arch: Arch;
  readonly preset: Preset;
  readonly dtype: WeightDtype;
  /** Qwen2-Instruct chat template and `<|im_end|>` as eos (default false). */
  readonly instruct?: boolean;
  /** Same seed, same bytes (default 0). */
  readonly seed?: number;
  /** Allow a non-empty outDir; its checkpoint files are replaced (default false). */
  readonly overwrite?: boolean;
  /** Default: tied for qwen2, untied for llama. */
  readonly tieWordEmbeddings?: boolean;
}

/** Elements generated per chunk: weights stream to disk in pieces of this size, so memory stays small. */
const CHUNK = 1 << 20;

/**
 * Writes a complete Hugging Face checkpoint directory with deterministic
 * random weights: config.json, generation_config.json, model.safetensors,
 * tokenizer.json and tokenizer_config.json (the Qwen2 vocabulary, for both
 * architectures; none for the micro preset, whose vocabulary is smaller).
 * modelSpec(arch, preset) gives the shapes it uses.
 */
export function makeTinyModel(options: MakeTinyModelOptions): void {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  const instruct = options.instruct ?? false;
  const spec = modelSpec(options.arch, options.preset, options.tieWordEmbeddings);
  prepareOutputDir(options.outDir, options.overwrite ?? false);

  // A vocabulary smaller than the Qwen2 tokenizer's (the micro preset) gets no tokenizer, and its last id as bos and eos.
  const withTokenizer = spec.vocabSize === QWEN2_VOCAB;
  const bos = withTokenizer ? ENDOFTEXT_ID : spec.vocabSize - 1;
  const eos = withTokenizer ? (instruct ? IM_END_ID : ENDOFTEXT_ID) : bos;
  writeJson(path.join(options.outDir, "config.json"), configJson({ spec, dtype: options.dtype, bosTokenId: bos, eosTokenId: eos }));
  writeJson(
    path.join(options.outDir, "generation_config.json"),
    generationConfigJson({ bosTokenId: bos, eosTokenIds: withTokenizer && instruct ? [IM_END_ID, ENDOFTEXT_ID] : [eos], padTokenId: bos }),
  );
  if (withTokenizer) {
    const files = qwenTokenizerFiles();
    fs.copyFileSync(files.tokenizer, path.join(options.outDir, "tokenizer.json"));
    const sourceConfig = JSON.parse(fs.readFileSync(files.tokenizerConfig, "utf8")) as Record<string, unknown>;
    writeJson(path.join(options.outDir, "tokenizer_config.json"), qwenTokenizerConfig(sourceConfig, { instruct, maxLength: spec.maxPositions }));
  }

  writeRandomWeights(path.join(options.outDir, "model.safetensors"), {
    params: paramSpecs(spec),
    dtype: options.dtype,
    seed,
    metadata: { format: "pt", "oar.generator": "make-tiny-model", "oar.arch": spec.arch, "oar.preset": options.preset, "oar.seed": String(seed) },
  });
}

/** Generates and writes one tensor at a time, CHUNK elements at a time. */
function writeRandomWeights(
  file: string,
  options: { params: readonly ParamSpec[]; dtype: WeightDtype; seed: number; metadata: Record<string, string> },
): void {
  const byName = new Map(options.params.map((p) => [p.name, p]));
  const f32 = new Float32Array(CHUNK);
  const u16 = new Uint16Array(CHUNK);
  writeSafetensorsStreaming(file, {
    tensors: options.params.map((p): TensorPlan => ({ name: p.name, dtype: options.dtype, shape: p.shape })),
    metadata: options.metadata,
    data: function* (plan) {
      const p = byName.get(plan.name)!;
      const stream = normalStream(options.seed, p.name);
      const n = numel(p.shape);
      for (let done = 0; done < n; done += CHUNK) {
        const m = Math.min(CHUNK, n - done);
        const values = f32.subarray(0, m);
        stream.fill(values, p.mean, p.std);
        yield encode(options.dtype, values, u16.subarray(0, m));
      }
    },
  });
}

function encode(dtype: WeightDtype, values: Float32Array, scratch: Uint16Array): ArrayBufferView {
  switch (dtype) {
    case "f32":
      return values;
    case "bf16":
      return f32ArrayToBf16(values, scratch);
    case "f16":
      return f32ArrayToF16(values, scratch);
    default:
      return assertNever(dtype);
  }
}
