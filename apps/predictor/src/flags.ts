/**
 * The predictor's command line: PaddleNLP predictor.py's flags, snake_case as
 * there (each with a kebab-case alias), parsed by yargs and checked into a
 * typed `PredictorFlags`. Every mistake is a `UsageError` naming the flag.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import yargs, { type Argv } from "yargs";
import { UsageError } from "@oar/cli";

export type Mode = "dynamic" | "static";
export type Device = "cpu" | "gpu";
export type DecodeStrategy = "sampling" | "greedy_search";
export type DtypeFlag = "float32" | "float16" | "bfloat16";
/** PaddleNLP's `--quant_type` values Oar knows; "" is none. */
export type QuantType = "" | "weight_only_int8" | "weight_only_int4" | "a8w8";

export const MODES: readonly Mode[] = ["dynamic", "static"];
export const DEVICES: readonly Device[] = ["cpu", "gpu"];
export const DECODE_STRATEGIES: readonly DecodeStrategy[] = ["sampling", "greedy_search"];
export const DTYPES: readonly DtypeFlag[] = ["float32", "float16", "bfloat16"];
export const QUANT_TYPES: readonly QuantType[] = ["", "weight_only_int8", "weight_only_int4", "a8w8"];

/** Defaults of the flags that have one, as `--help` shows them. */
export const PREDICTOR_DEFAULTS = {
  mode: "dynamic",
  device: "cpu",
  srcLength: 1024,
  maxLength: 1024,
  batchSize: 1,
  decodeStrategy: "sampling",
  topK: 0,
  topP: 0.7,
  temperature: 0.95,
  repetitionPenalty: 1,
  seed: 42,
  quantType: "",
  blockSize: 64,
  outputFile: "output.json",
} as const;

/** What the predictor was asked to do, checked. */
export interface PredictorFlags {
  readonly modelDir: string;
  readonly mode: Mode;
  readonly device: Device;
  /** JSON lines of prompts; null: the built-in prompt. */
  readonly dataFile: string | null;
  readonly outputFile: string;
  readonly resume: boolean;
  /** Prompt tokens kept (the last ones) after templating. */
  readonly srcLength: number;
  /** Max NEW tokens. */
  readonly maxLength: number;
  readonly batchSize: number;
  readonly decodeStrategy: DecodeStrategy;
  readonly topK: number;
  readonly topP: number;
  readonly temperature: number;
  readonly repetitionPenalty: number;
  readonly seed: number;
  /** null: the checkpoint's own dtype. */
  readonly dtype: DtypeFlag | null;
  readonly quantType: QuantType;
  readonly inferenceModel: boolean;
  readonly blockAttn: boolean;
  readonly blockSize: number;
  /** Which of dtype, quant_type, inference_model, block_attn, block_size the command line set (static mode checks them). */
  readonly graphFlagsGiven: readonly GraphFlag[];
  readonly loraPaths: readonly string[];
  /** Merge LoRA into the weights at load (default) or keep it beside them. */
  readonly loraMerge: boolean;
  readonly prefixPath: string | null;
  /** Unset: the tokenizer's template if it has one; "none": the raw prompt; else a jinja file. */
  readonly chatTemplate: ChatTemplateFlag;
  readonly stream: boolean;
  readonly benchmark: boolean;
}

export type ChatTemplateFlag =
  | { readonly kind: "tokenizer" }
  | { readonly kind: "none" }
  | { readonly kind: "file"; readonly path: string; readonly text: string };

/** The flags that describe a model's graph and storage: in static mode they were fixed by export-model. */
export const GRAPH_FLAGS = ["dtype", "quant_type", "inference_model", "block_attn", "block_size"] as const;
export type GraphFlag = (typeof GRAPH_FLAGS)[number];

/** The yargs parser of the predictor's command line (help, strict flags, defaults). */
export function predictorCli(args: readonly string[]): Argv {
  return yargs([...args])
    .scriptName("predictor")
    .usage(
      "$0 --model_name_or_path DIR [options]\n\n" +
        "Completes prompts with a Qwen2/Llama model, as PaddleNLP's predictor.py: a Hugging Face checkpoint " +
        "(--mode dynamic) or a directory written by export-model (--mode static).",
    )
    .example("$0 --model_name_or_path ./Qwen2-0.5B-Instruct --data_file prompts.jsonl --decode_strategy greedy_search", "dynamic mode")
    .example("$0 --model_name_or_path ./inference --mode static --data_file prompts.jsonl --batch_size 4", "an exported model")
    .group(["model_name_or_path", "mode", "device", "dtype", "quant_type", "inference_model", "block_attn", "block_size", "lora_path", "lora_merge", "prefix_path"], "Model:")
    .group(["data_file", "output_file", "resume", "chat_template", "src_length", "stream", "benchmark"], "Input and output:")
    .group(["max_length", "batch_size", "decode_strategy", "top_k", "top_p", "temperature", "repetition_penalty", "seed"], "Generation:")
    .option("model_name_or_path", { type: "string", alias: "model-name-or-path", describe: "checkpoint directory (dynamic) or export-model's output directory (static); required" })
    .option("mode", { type: "string", choices: MODES, default: PREDICTOR_DEFAULTS.mode, describe: "dynamic: run the checkpoint eagerly; static: run an exported graph on onnxruntime" })
    .option("device", { type: "string", choices: DEVICES, default: PREDICTOR_DEFAULTS.device, describe: "gpu needs --mode static (onnxruntime's CUDA provider)" })
    .option("dtype", { type: "string", choices: DTYPES, defaultDescription: "the checkpoint's torch_dtype", describe: "weight storage in dynamic mode" })
    .option("quant_type", { type: "string", alias: "quant-type", choices: QUANT_TYPES, defaultDescription: '"" (none)', describe: "weight_only_int8: quantize weights at load (dynamic); int4 and a8w8 come from export-model (static)" })
    .option("inference_model", { type: "boolean", alias: "inference-model", defaultDescription: "false", describe: "PaddleNLP's fused inference model; the eager model is already one implementation, so dynamic mode needs no switch" })
    .option("block_attn", { type: "boolean", alias: "block-attn", defaultDescription: "false", describe: "block attention: a paged KV cache drawn from one pool" })
    .option("block_size", { type: "number", alias: "block-size", defaultDescription: String(PREDICTOR_DEFAULTS.blockSize), describe: "positions per KV block with --block_attn" })
    .option("lora_path", { type: "string", array: true, alias: "lora-path", describe: "LoRA adapter directories (PEFT or PaddleNLP), stacked in the order given" })
    .option("lora_merge", { type: "boolean", alias: "lora-merge", defaultDescription: "true", describe: "merge LoRA into the weights at load; --lora_merge false keeps it beside them" })
    .option("prefix_path", { type: "string", alias: "prefix-path", describe: "prefix-tuning adapter directory (PEFT or PaddleNLP)" })
    .option("data_file", { type: "string", alias: "data-file", defaultDescription: "a built-in Chinese prompt", describe: 'JSON lines: {"src": "..." or ["user", "assistant", ..., "user"], "tgt": "..."}' })
    .option("output_file", { type: "string", alias: "output-file", default: PREDICTOR_DEFAULTS.outputFile, describe: 'JSON lines {"src", "tgt", "output"} in input order, written as results complete' })
    .option("resume", { type: "boolean", default: false, describe: "skip the prompts already in --output_file and append the rest" })
    .option("chat_template", { type: "string", alias: "chat-template", defaultDescription: "the tokenizer's template, if any", describe: '"none" for raw prompts, or a jinja template file' })
    .option("src_length", { type: "number", alias: "src-length", default: PREDICTOR_DEFAULTS.srcLength, describe: "prompt tokens kept; a longer prompt keeps its last ones, with a warning" })
    .option("stream", { type: "boolean", default: false, describe: "print each result's tokens as they are generated" })
    .option("benchmark", { type: "boolean", default: false, describe: "generate exactly --max_length tokens per prompt after a warm-up and print throughput (no output file)" })
    .option("max_length", { type: "number", alias: "max-length", default: PREDICTOR_DEFAULTS.maxLength, describe: "max NEW tokens per prompt (lowered to what the model holds)" })
    .option("batch_size", { type: "number", alias: "batch-size", default: PREDICTOR_DEFAULTS.batchSize, describe: "sequences in flight (continuous batching)" })
    .option("decode_strategy", { type: "string", alias: "decode-strategy", choices: DECODE_STRATEGIES, default: PREDICTOR_DEFAULTS.decodeStrategy, describe: "how the next token is chosen" })
    .option("top_k", { type: "number", alias: "top-k", default: PREDICTOR_DEFAULTS.topK, describe: "sampling: keep the k most likely tokens (0: off)" })
    .option("top_p", { type: "number", alias: "top-p", default: PREDICTOR_DEFAULTS.topP, describe: "sampling: keep the most likely tokens up to this probability, in (0, 1]" })
    .option("temperature", { type: "number", default: PREDICTOR_DEFAULTS.temperature, describe: "sampling: divide the logits by this (> 0)" })
    .option("repetition_penalty", { type: "number", alias: "repetition-penalty", default: PREDICTOR_DEFAULTS.repetitionPenalty, describe: "penalize tokens already in the sequence (1: off)" })
    .option("seed", { type: "number", default: PREDICTOR_DEFAULTS.seed, describe: "sampling seed; each prompt draws from its own stream, so results do not depend on --batch_size" })
    .strict()
    .version(false)
    .help()
    .wrap(Math.min(120, process.stdout.columns ?? 120));
}

/**
 * Parses and checks the command line, without printing or exiting: a
 * mistake throws a UsageError. (`--help` is main.ts's business.)
 */
export function parsePredictorFlags(args: readonly string[]): PredictorFlags {
  const argv = predictorCli(args)
    .exitProcess(false)
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync();
  return checkPredictorFlags(argv);
}

/** Checks what yargs parsed (its values, with defaults applied) and gives them their types. */
export function checkPredictorFlags(argv: Record<string, unknown>): PredictorFlags {
  // yargs collects a repeated flag into a list; only --lora_path takes several values (argv also holds the aliases).
  for (const [key, value] of Object.entries(argv)) {
    if (/^[a-z_]+$/.test(key) && key !== "_" && key !== "lora_path" && Array.isArray(value)) throw new UsageError(`--${key} was given ${value.length} times; give it once`);
  }
  const modelDir = argv["model_name_or_path"];
  if (typeof modelDir !== "string" || modelDir === "") throw new UsageError("--model_name_or_path DIR is required");
  const mode = argv["mode"] as Mode;
  const device = argv["device"] as Device;
  const given = GRAPH_FLAGS.filter((flag) => argv[flag] !== undefined);
  const flags: PredictorFlags = {
    modelDir,
    mode,
    device,
    dataFile: optionalPath(argv, "data_file"),
    outputFile: argv["output_file"] as string,
    resume: argv["resume"] as boolean,
    srcLength: integer(argv, "src_length", 1),
    maxLength: integer(argv, "max_length", 1),
    batchSize: integer(argv, "batch_size", 1),
    decodeStrategy: argv["decode_strategy"] as DecodeStrategy,
    topK: integer(argv, "top_k", 0),
    topP: inRange(argv, "top_p", (v) => v > 0 && v <= 1, "in (0, 1]"),
    temperature: inRange(argv, "temperature", (v) => v > 0, "> 0"),
    repetitionPenalty: inRange(argv, "repetition_penalty", (v) => v > 0, "> 0"),
    seed: integer(argv, "seed", 0),
    dtype: (argv["dtype"] as DtypeFlag | undefined) ?? null,
    quantType: (argv["quant_type"] as QuantType | undefined) ?? PREDICTOR_DEFAULTS.quantType,
    inferenceModel: (argv["inference_model"] as boolean | undefined) ?? false,
    blockAttn: (argv["block_attn"] as boolean | undefined) ?? false,
    blockSize: argv["block_size"] === undefined ? PREDICTOR_DEFAULTS.blockSize : integer(argv, "block_size", 1),
    graphFlagsGiven: given,
    loraPaths: stringList(argv, "lora_path"),
    loraMerge: (argv["lora_merge"] as boolean | undefined) ?? true,
    prefixPath: optionalPath(argv, "prefix_path"),
    chatTemplate: chatTemplateFlag(argv["chat_template"]),
    stream: argv["stream"] as boolean,
    benchmark: argv["benchmark"] as boolean,
  };
  if (argv["lora_merge"] !== undefined && flags.loraPaths.length === 0) throw new UsageError("--lora_merge applies to --lora_path");
  checkCombinations(flags);
  return flags;
}

function checkCombinations(flags: PredictorFlags): void {
  if (flags.mode === "dynamic") {
    if (flags.device === "gpu") {
      throw new UsageError("--device gpu: dynamic mode runs on the CPU; export the model with export-model and run it with --mode static --device gpu");
    }
  }
  if (flags.mode === "static") {
    if (flags.loraPaths.length > 0) throw new UsageError("--lora_path: static mode runs an exported graph; merge LoRA when exporting (export-model --lora_path)");
    if (flags.prefixPath !== null) throw new UsageError("--prefix_path: static mode runs an exported graph; export the prefix with it (export-model --prefix_path)");
  }
  if (!flags.blockAttn && flags.graphFlagsGiven.includes("block_size")) {
    throw new UsageError("--block_size applies to block attention; add --block_attn");
  }
  if (flags.benchmark && flags.resume) throw new UsageError("--resume continues an output file; --benchmark writes none");
  const outDir = path.dirname(path.resolve(flags.outputFile));
  if (!flags.benchmark) {
    let isDir = false;
    try {
      isDir = fs.statSync(outDir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw new UsageError(`--output_file ${flags.outputFile}: directory ${outDir} does not exist`);
    if (isDirectory(flags.outputFile)) throw new UsageError(`--output_file ${flags.outputFile}: is a directory; give a file name`);
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function chatTemplateFlag(value: unknown): ChatTemplateFlag {
  if (value === undefined) return { kind: "tokenizer" };
  if (typeof value !== "string" || value === "") throw new UsageError('--chat_template needs "none" or a jinja template file');
  if (value === "none") return { kind: "none" };
  let text: string;
  try {
    text = fs.readFileSync(value, "utf8");
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as NodeJS.ErrnoException).code === "EISDIR" ? "is a directory, not a template file" : (e as Error).message;
    throw new UsageError(`--chat_template ${value}: cannot read the template: ${reason}`);
  }
  if (text.trim() === "") throw new UsageError(`--chat_template ${value}: the template file is empty`);
  return { kind: "file", path: value, text };
}

function optionalPath(argv: Record<string, unknown>, flag: string): string | null {
  const v = argv[flag];
  if (v === undefined) return null;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${flag} needs a path`);
  return v;
}

function stringList(argv: Record<string, unknown>, flag: string): string[] {
  const v = argv[flag];
  if (v === undefined) return [];
  const list = (Array.isArray(v) ? v : [v]).map(String);
  if (list.length === 0 || list.some((s) => s === "")) throw new UsageError(`--${flag} needs one or more directories`);
  return list;
}

function numberFlag(argv: Record<string, unknown>, flag: string): number {
  const v = argv[flag];
  if (typeof v !== "number" || Number.isNaN(v)) throw new UsageError(`--${flag} must be a number`);
  return v;
}

function integer(argv: Record<string, unknown>, flag: string, min: number): number {
  const v = numberFlag(argv, flag);
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got ${v}`);
  return v;
}

function inRange(argv: Record<string, unknown>, flag: string, ok: (v: number) => boolean, what: string): number {
  const v = numberFlag(argv, flag);
  if (!ok(v)) throw new UsageError(`--${flag} must be ${what}, got ${v}`);
  return v;
}
