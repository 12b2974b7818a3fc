/**
 * The model behind the predictor, in either mode, as one `CausalLM`:
 *
 * - dynamic: a Hugging Face checkpoint on the eager model of @oar/modeling,
 *   with the storage, KV cache and adapters the flags ask for;
 * - static: a directory written by export-model, on @oar/runtime's
 *   `loadStaticModel` (onnxruntime-node). That one function is all the
 *   predictor needs from the runtime.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { CausalLM } from "@oar/generation";
import {
  loadAdapters,
  loadEagerModel,
  mergeLora,
  unmergedLora,
  type Adapters,
  type CacheOptions,
  type DecoderConfig,
  type EagerModelOptions,
  type WeightStorage,
} from "@oar/modeling";
import { isInferenceDirectory, loadStaticModel, MANIFEST_FILE } from "@oar/runtime";
import { assertNever } from "@oar/tensor";
import { UsageError, requireModelDirectory } from "@oar/cli";
import type { Mode, PredictorFlags } from "./flags.js";

/** The file export-model writes into every inference directory, and that marks one. */
export const INFERENCE_MANIFEST = MANIFEST_FILE;

/**
 * Checks that `dir` is what `mode` runs: a directory; for static mode one
 * with oar_inference.json, for dynamic mode one without.
 */
export function checkModelDir(dir: string, mode: Mode): void {
  requireModelDirectory(dir);
  const exported = isInferenceDirectory(dir);
  switch (mode) {
    case "dynamic":
      if (exported) {
        throw new UsageError(`--model_name_or_path ${dir}: an inference directory written by export-model (it has ${INFERENCE_MANIFEST}); run it with --mode static`);
      }
      return;
    case "static":
      if (!exported) {
        throw new UsageError(
          `--model_name_or_path ${dir}: no ${INFERENCE_MANIFEST}, so not an inference directory; export it first (export-model --model_name_or_path ${dir} --output_path ./inference) or run it with --mode dynamic`,
        );
      }
      return;
    default:
      assertNever(mode);
  }
}

/** What static mode reads of oar_inference.json: the settings the graph was exported with. */
export interface ExportedSettings {
  readonly dtype: string;
  /** null: not quantized. */
  readonly quant_type: string | null;
  readonly inference_model: boolean;
  readonly block_attention: { readonly enabled: boolean; readonly block_size: number | null };
}

/** Reads the exported settings of an inference directory (checked by checkModelDir). */
export function readExportedSettings(dir: string): ExportedSettings {
  const file = path.join(dir, INFERENCE_MANIFEST);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`${file}: cannot be read as JSON (${(e as Error).message}); export the model again`);
  }
  const m = (typeof json === "object" && json !== null ? json : {}) as Record<string, unknown>;
  const block = (typeof m["block_attention"] === "object" && m["block_attention"] !== null ? m["block_attention"] : {}) as Record<string, unknown>;
  const ok =
    typeof m["dtype"] === "string" &&
    (typeof m["quant_type"] === "string" || m["quant_type"] === null) &&
    typeof m["inference_model"] === "boolean" &&
    typeof block["enabled"] === "boolean" &&
    (typeof block["block_size"] === "number" || block["block_size"] === null);
  if (!ok) throw new UsageError(`${file}: lacks dtype, quant_type, inference_model or block_attention; it was not written by this export-model (export the model again)`);
  return m as unknown as ExportedSettings;
}

/**
 * In static mode the graph flags were fixed by export-model. Given again,
 * as PaddleNLP commands do, each must say what the directory holds: a
 * different value would silently run something else than asked.
 */
export function checkStaticFlags(flags: PredictorFlags, exported: ExportedSettings): void {
  const differ = (flag: string, given: string, held: string): never => {
    throw new UsageError(`--${flag} ${given}: ${flags.modelDir} was exported with ${held}; static mode runs the graph as exported (drop the flag, or export again with it)`);
  };
  for (const flag of flags.graphFlagsGiven) {
    switch (flag) {
      case "dtype":
        if (flags.dtype !== exported.dtype) differ(flag, String(flags.dtype), `--dtype ${exported.dtype}`);
        break;
      case "quant_type":
        if (flags.quantType !== (exported.quant_type ?? "")) differ(flag, JSON.stringify(flags.quantType), exported.quant_type === null ? "no --quant_type" : `--quant_type ${exported.quant_type}`);
        break;
      case "inference_model":
        if (flags.inferenceModel !== exported.inference_model) differ(flag, String(flags.inferenceModel), exported.inference_model ? "--inference_model" : "no --inference_model");
        break;
      case "block_attn":
        if (flags.blockAttn !== exported.block_attention.enabled) differ(flag, String(flags.blockAttn), exported.block_attention.enabled ? "--block_attn" : "no --block_attn");
        break;
      case "block_size":
        if (flags.blockSize !== exported.block_attention.block_size) differ(flag, String(flags.blockSize), `--block_size ${exported.block_attention.block_size}`);
        break;
    }
  }
}

/** A loaded model and what to say about it. */
export interface PredictorModel {
  readonly model: CausalLM;
  /**
   * Longest sequence (prefix included) the model could hold: its
   * max_position_embeddings. A prompt with less room than --max_length
   * stops early, with a warning.
   */
  readonly positionLimit: number;
  /** One line for the log: architecture, storage, cache, adapters. */
  readonly summary: string;
}

/** What loading needs beyond the flags. */
export interface LoadNeeds {
  /** Tokens of the longest prompt, after --src_length. */
  readonly longestPrompt: number;
}

/** Loads an inference directory (checked by checkModelDir) with @oar/runtime. */
export async function loadStaticPredictorModel(flags: PredictorFlags, needs: LoadNeeds): Promise<PredictorModel> {
  // Positions a sequence may need (prompt and new tokens): the runtime sizes its caches by them.
  const model = await loadStaticModel(flags.modelDir, { device: flags.device, batchSize: flags.batchSize, positions: needs.longestPrompt + flags.maxLength });
  return { model, positionLimit: model.maxPositions, summary: `static: ${flags.modelDir}: ${model.summary}` };
}

/** The adapters of --lora_path and --prefix_path, each checked to be of its kind. */
export function loadFlagAdapters(flags: PredictorFlags, config: DecoderConfig): Adapters {
  const lora = loadAdapters(flags.loraPaths, config);
  for (const s of lora.sources) {
    if (s.format === "peft-prefix" || s.format === "paddle-prefix") {
      throw new UsageError(`--lora_path ${s.dir}: holds a prefix-tuning adapter (${s.files[0]}); pass it with --prefix_path`);
    }
  }
  if (flags.prefixPath === null) return lora;
  const prefix = loadAdapters([flags.prefixPath], config);
  for (const s of prefix.sources) {
    if (s.format === "peft-lora" || s.format === "paddle-lora") {
      throw new UsageError(`--prefix_path ${s.dir}: holds a LoRA adapter (${s.files[0]}); pass it with --lora_path`);
    }
  }
  return { lora: lora.lora, prefix: prefix.prefix, sources: [...lora.sources, ...prefix.sources] };
}

/** The eager model's storage for --dtype and --quant_type (the library's, shared with the server). */
export { dynamicStorage } from "@oar/modeling";

/**
 * Loads a checkpoint (checked by checkModelDir) on the eager model, with
 * `adapters` (from loadFlagAdapters) and `storage` (from dynamicStorage).
 */
export async function loadDynamicModel(
  flags: PredictorFlags,
  config: DecoderConfig,
  setup: LoadNeeds & { readonly adapters: Adapters; readonly storage: WeightStorage },
): Promise<PredictorModel> {
  const { adapters, storage } = setup;
  const prefixLength = adapters.prefix?.length ?? 0;
  const maxPositions = Math.min(config.maxPositions, prefixLength + setup.longestPrompt + flags.maxLength);
  const cache: CacheOptions = flags.blockAttn
    ? { kind: "paged", blockSize: flags.blockSize, numBlocks: flags.batchSize * Math.ceil(maxPositions / flags.blockSize) }
    : { kind: "dense" };
  const hasLora = adapters.lora.length > 0;
  const options: EagerModelOptions = {
    storage,
    cache,
    maxPositions,
    ...(hasLora && flags.loraMerge ? { edit: mergeLora(adapters.lora) } : {}),
    ...(hasLora && !flags.loraMerge ? { unmergedLora: unmergedLora(adapters.lora) } : {}),
    ...(adapters.prefix === null ? {} : { prefix: adapters.prefix }),
  };
  const model = await loadEagerModel(flags.modelDir, options);
  const parts = [
    `${config.architecture}, ${config.numLayers} layers`,
    storage.format !== "q8"
      ? `${storage.format} weights`
      : storage.blockSize === "channel"
        ? "int8 weights (one scale per output channel)"
        : `int8 weights (blocks of ${storage.blockSize})`,
    cache.kind === "paged" ? `block attention (${cache.blockSize} positions a block, ${cache.numBlocks} blocks)` : "dense KV cache",
  ];
  if (hasLora) parts.push(`LoRA from ${flags.loraPaths.join(", ")} (${flags.loraMerge ? "merged" : "unmerged"})`);
  if (adapters.prefix !== null) parts.push(`prefix of ${adapters.prefix.length} tokens from ${flags.prefixPath}`);
  return { model, positionLimit: config.maxPositions, summary: `dynamic: ${parts.join(", ")}` };
}
