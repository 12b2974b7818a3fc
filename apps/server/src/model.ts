/**
 * The served model in either mode, as one CausalLM with its tokenizer and
 * limits: a checkpoint on the eager model of @oar/modeling (dynamic), or an
 * inference directory on @oar/runtime's onnxruntime session (static). The
 * mode follows the directory (the runtime's isInferenceDirectory) unless
 * given.
 */
import type { CausalLM } from "@oar/generation";
import {
  dynamicStorage,
  loadAdapters,
  loadEagerModel,
  mergeLora,
  readDecoderConfig,
  type CacheOptions,
  type EagerModelOptions,
} from "@oar/modeling";
import { isInferenceDirectory, loadStaticModel, type StaticModel } from "@oar/runtime";
import { loadTokenizer, type OarTokenizer } from "@oar/tokenizer";
import { UsageError } from "@oar/cli";
import { SERVER_DEFAULTS, type Mode, type ResolvedOptions } from "./options.js";

/** A loaded model and what the server needs to know about it. */
export interface ServedModel {
  readonly model: CausalLM;
  readonly tokenizer: OarTokenizer;
  readonly mode: Mode;
  /** Prompt plus completion tokens a request may hold (a learned prefix not counted). */
  readonly maxModelLen: number;
  /** KV positions the cache holds, all slots together: batchSize x (prefix + maxModelLen). */
  readonly kvCapacity: number;
  readonly eosTokenIds: readonly number[];
  /** One line for the log. */
  readonly summary: string;
}

/** Loads the model `options` name, in its mode; a mistake in the options is a UsageError. */
export async function loadServedModel(options: ResolvedOptions): Promise<ServedModel> {
  const mode: Mode = options.mode ?? (isInferenceDirectory(options.modelDir) ? "static" : "dynamic");
  const tokenizer = await loadTokenizer(options.modelDir);
  return mode === "dynamic" ? loadDynamic(options, tokenizer) : loadStatic(options, tokenizer);
}

async function loadDynamic(options: ResolvedOptions, tokenizer: OarTokenizer): Promise<ServedModel> {
  const dir = options.modelDir;
  if (isInferenceDirectory(dir)) {
    throw new UsageError(`--model_name_or_path ${dir}: an inference directory written by export-model; serve it with --mode static (the default for such a directory)`);
  }
  const config = readDecoderConfig(dir);
  const storage = dynamicStorage(options, config);
  const adapters = options.loraPaths.length > 0 ? loadAdapters(options.loraPaths, config) : null;
  const prefixLength = adapters?.prefix?.length ?? 0;
  const maxModelLen = modelLength(options, config.maxPositions - prefixLength);
  const positions = prefixLength + maxModelLen;
  const cache: CacheOptions = options.blockAttn
    ? { kind: "paged", blockSize: options.blockSize, numBlocks: options.batchSize * Math.ceil(positions / options.blockSize) }
    : { kind: "dense" };
  const eagerOptions: EagerModelOptions = {
    storage,
    cache,
    maxPositions: positions,
    ...(adapters !== null && adapters.lora.length > 0 ? { edit: mergeLora(adapters.lora) } : {}),
    ...(adapters?.prefix ? { prefix: adapters.prefix } : {}),
  };
  const model = await loadEagerModel(dir, eagerOptions);
  const parts = [
    `${config.architecture}, ${config.numLayers} layers, ${storage.format === "q8" ? "int8" : storage.format} weights`,
    cache.kind === "paged" ? `block attention (${cache.numBlocks} blocks of ${cache.blockSize} positions)` : "dense KV cache",
  ];
  if (adapters !== null) parts.push(`adapters from ${options.loraPaths.join(", ")}`);
  return {
    model,
    tokenizer,
    mode: "dynamic",
    maxModelLen,
    kvCapacity: options.batchSize * positions,
    eosTokenIds: [...new Set([...tokenizer.eosTokenIds, ...config.eosTokenIds])],
    summary: `dynamic: ${parts.join(", ")}`,
  };
}

async function loadStatic(options: ResolvedOptions, tokenizer: OarTokenizer): Promise<ServedModel> {
  const dir = options.modelDir;
  if (!isInferenceDirectory(dir)) {
    throw new UsageError(`--model_name_or_path ${dir}: a checkpoint, not an inference directory; export it first (export-model --model_name_or_path ${dir} --output_path ./inference) or serve it in dynamic mode`);
  }
  const requested = options.maxModelLen ?? SERVER_DEFAULTS.maxModelLenCap;
  const model = await loadStaticModel(dir, { device: options.device, batchSize: options.batchSize, positions: requested });
  try {
    checkGraphOptions(options, model);
    const maxModelLen = modelLength(options, model.maxPositions - model.prefixLength);
    return {
      model,
      tokenizer,
      mode: "static",
      maxModelLen,
      kvCapacity: options.batchSize * (model.prefixLength + maxModelLen),
      eosTokenIds: tokenizer.eosTokenIds,
      summary: `static: ${model.summary}`,
    };
  } catch (error) {
    await model.dispose();
    throw error;
  }
}

/** --max_model_len checked against what the model holds, or that (at most 4096) when not given. */
function modelLength(options: ResolvedOptions, holds: number): number {
  if (options.maxModelLen === null) return Math.min(holds, SERVER_DEFAULTS.maxModelLenCap);
  if (options.maxModelLen > holds) {
    throw new UsageError(`--max_model_len ${options.maxModelLen}: the model holds ${holds} positions${holds > 0 ? "" : " (its prefix fills them)"}; give at most ${holds}`);
  }
  return options.maxModelLen;
}

/**
 * In static mode the graph options were fixed by export-model. Given again,
 * each must say what the directory holds: a different value would silently
 * serve something else than asked.
 */
function checkGraphOptions(options: ResolvedOptions, model: StaticModel): void {
  const { exported, kv } = model.manifest;
  const differ = (flag: string, given: string, held: string): never => {
    throw new UsageError(`--${flag} ${given}: ${options.modelDir} was exported with ${held}; static mode serves the graph as exported (drop the flag, or export again with it)`);
  };
  for (const flag of options.graphOptionsGiven) {
    switch (flag) {
      case "dtype":
        if (options.dtype !== exported.dtype) differ(flag, String(options.dtype), `--dtype ${exported.dtype}`);
        break;
      case "quant_type":
        if (options.quantType !== (exported.quantType ?? "")) differ(flag, options.quantType, exported.quantType === null ? "no --quant_type" : `--quant_type ${exported.quantType}`);
        break;
      case "block_attn":
        if (options.blockAttn !== (kv.io === "blocks")) differ(flag, String(options.blockAttn), kv.io === "blocks" ? "--block_attn" : "no --block_attn");
        break;
      case "block_size":
        if (kv.io !== "blocks" || options.blockSize !== kv.blockSize) differ(flag, String(options.blockSize), kv.io === "blocks" ? `--block_size ${kv.blockSize}` : "no --block_attn");
        break;
    }
  }
}
