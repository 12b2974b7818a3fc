/**
 * export-model's command line: PaddleNLP export_model.py's flags, snake_case
 * as there (each with a kebab-case alias), parsed by yargs and checked into
 * the options of @oar/export's `exportModel`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import yargs, { type Argv } from "yargs";
import type { AttentionForm, ExportDType, ExportOptions, QuantType } from "@oar/export";
import { UsageError, requireModelDirectory } from "@oar/cli";

export const EXPORT_DTYPES: readonly ExportDType[] = ["float32", "float16", "bfloat16"];
/** "" is PaddleNLP's value for no quantization. */
export const EXPORT_QUANT_TYPES: readonly ("" | QuantType)[] = ["", "weight_only_int8", "weight_only_int4", "a8w8"];

export const EXPORT_DEFAULTS = {
  outputPath: "./inference",
  dtype: "float32",
  quantType: "",
  blockSize: 64,
  quantBlockSize: 32,
  attention: "grouped",
} as const;

export const ATTENTION_FORMS: readonly AttentionForm[] = ["grouped", "repeat-kv"];

/** The file export-model writes into every inference directory. */
const MANIFEST = "oar_inference.json";

/** The yargs parser of export-model's command line. */
export function exportCli(args: readonly string[]): Argv {
  return yargs([...args])
    .scriptName("export-model")
    .usage(
      "$0 --model_name_or_path DIR [--output_path DIR] [options]\n\n" +
        "Exports a Hugging Face checkpoint as an inference directory (model.onnx, oar_inference.json, config and tokenizer files), " +
        "as PaddleNLP's export_model.py; run it with predictor --mode static.",
    )
    .example("$0 --model_name_or_path ./Qwen2-0.5B-Instruct --output_path ./inference", "the primitive graph, float32")
    .example("$0 --model_name_or_path ./Qwen2-0.5B-Instruct --output_path ./inference-int8 --inference_model --quant_type weight_only_int8", "fused and int8")
    .option("model_name_or_path", { type: "string", alias: "model-name-or-path", describe: "the checkpoint directory to export; required" })
    .option("output_path", { type: "string", alias: "output-path", default: EXPORT_DEFAULTS.outputPath, describe: "the inference directory to write (absent or empty unless --overwrite)" })
    .option("dtype", { type: "string", choices: EXPORT_DTYPES, default: EXPORT_DEFAULTS.dtype, describe: "element type of weights, activations and KV cache" })
    .option("quant_type", { type: "string", alias: "quant-type", choices: EXPORT_QUANT_TYPES, default: EXPORT_DEFAULTS.quantType, describe: "quantize the weights: weight_only_int8, weight_only_int4 (MatMulNBits) or a8w8" })
    .option("quant_block_size", { type: "number", alias: "quant-block-size", defaultDescription: String(EXPORT_DEFAULTS.quantBlockSize), describe: "weights per quantization scale along the input dimension (MatMulNBits block_size: 16, 32, 64, 128 or 256)" })
    .option("inference_model", { type: "boolean", alias: "inference-model", default: false, describe: "run the fusion passes (SkipSimplifiedLayerNormalization, RotaryEmbedding, QKV and gate/up merges, QuickGelu)" })
    .option("attention", {
      type: "string",
      choices: ATTENTION_FORMS,
      default: EXPORT_DEFAULTS.attention,
      describe: "how attention is written: grouped (reads the cache without copying it; fastest on CPU) or repeat-kv (as other exporters write it; with --inference_model it becomes com.microsoft GroupQueryAttention, the fast path of GPU providers)",
    })
    .option("block_attn", { type: "boolean", alias: "block-attn", default: false, describe: "block attention: the graph reads its past keys and values from a pool of fixed-size blocks through a block table" })
    .option("block_size", { type: "number", alias: "block-size", defaultDescription: String(EXPORT_DEFAULTS.blockSize), describe: "positions per KV block with --block_attn" })
    .option("src_length", { type: "number", alias: "src-length", defaultDescription: "not recorded", describe: "prompt tokens kept (PaddleNLP's --src_length), recorded for the runtime" })
    .option("max_length", { type: "number", alias: "max-length", defaultDescription: "not recorded", describe: "max new tokens (PaddleNLP's --max_length), recorded for the runtime" })
    .option("lora_path", { type: "string", array: true, alias: "lora-path", describe: "LoRA adapter directories (PEFT or PaddleNLP), merged into the weights in the order given" })
    .option("prefix_path", { type: "string", alias: "prefix-path", describe: "a prefix-tuning adapter directory; its keys and values are written beside the graph" })
    .option("overwrite", { type: "boolean", default: false, describe: "replace a non-empty output directory (only once the new one is complete)" })
    .strict()
    .version(false)
    .help()
    .wrap(Math.min(120, process.stdout.columns ?? 120));
}

/** Parses and checks the command line without printing or exiting: a mistake throws a UsageError. */
export function parseExportFlags(args: readonly string[]): ExportOptions {
  const argv = exportCli(args)
    .exitProcess(false)
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync();
  return checkExportFlags(argv);
}

/** Checks what yargs parsed into exportModel's options (without onProgress). */
export function checkExportFlags(argv: Record<string, unknown>): ExportOptions {
  // yargs collects a repeated flag into a list; only --lora_path takes several values (argv also holds the aliases).
  for (const [key, value] of Object.entries(argv)) {
    if (/^[a-z_]+$/.test(key) && key !== "_" && key !== "lora_path" && Array.isArray(value)) throw new UsageError(`--${key} was given ${value.length} times; give it once`);
  }
  const modelDir = argv["model_name_or_path"];
  if (typeof modelDir !== "string" || modelDir === "") throw new UsageError("--model_name_or_path DIR is required");
  checkCheckpointDir(modelDir);
  const outputDir = argv["output_path"] as string;
  if (outputDir === "") throw new UsageError("--output_path needs a directory");
  const blockAttn = argv["block_attn"] as boolean;
  if (argv["block_size"] !== undefined && !blockAttn) throw new UsageError("--block_size applies to block attention; add --block_attn");
  const quant = argv["quant_type"] as "" | QuantType;
  const quantBlockSize = positive(argv, "quant_block_size");
  if (quantBlockSize !== undefined && quant === "") throw new UsageError("--quant_block_size applies to quantized weights; add --quant_type");
  const loraPaths = argv["lora_path"] === undefined ? [] : (argv["lora_path"] as unknown[]).map(String);
  if (argv["lora_path"] !== undefined && (loraPaths.length === 0 || loraPaths.includes(""))) throw new UsageError("--lora_path needs one or more directories");
  const prefixPath = argv["prefix_path"];
  if (prefixPath === "") throw new UsageError("--prefix_path needs a directory");
  return {
    modelDir,
    outputDir,
    dtype: argv["dtype"] as ExportDType,
    quantType: quant === "" ? null : quant,
    ...(quantBlockSize === undefined ? {} : { quantization: { blockSize: quantBlockSize } }),
    inferenceModel: argv["inference_model"] as boolean,
    attention: argv["attention"] as AttentionForm,
    blockAttn,
    ...(blockAttn ? { blockSize: positive(argv, "block_size") ?? EXPORT_DEFAULTS.blockSize } : {}),
    ...optional("srcLength", positive(argv, "src_length")),
    ...optional("maxLength", positive(argv, "max_length")),
    loraPaths,
    prefixPath: typeof prefixPath === "string" ? prefixPath : null,
    overwrite: argv["overwrite"] as boolean,
  };
}

/** The model directory must be a checkpoint: not missing, not an inference directory already. */
function checkCheckpointDir(dir: string): void {
  requireModelDirectory(dir);
  if (fs.existsSync(path.join(dir, MANIFEST))) {
    throw new UsageError(`--model_name_or_path ${dir}: already an inference directory (it has ${MANIFEST}); export the checkpoint it came from`);
  }
}

function positive(argv: Record<string, unknown>, flag: string): number | undefined {
  const v = argv[flag];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new UsageError(`--${flag} must be an integer >= 1, got ${Number.isNaN(v) ? "something else" : String(v)}`);
  return v;
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}
