/**
 * What a server is asked to serve, with every default and cross-option check
 * in one place: the bin passes its flags through `resolveOptions`, and a
 * program calling `createServer` gets the same defaults and errors.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { QuantTypeName } from "@oar/modeling";
import { isInferenceDirectory } from "@oar/runtime";
import type { TorchDTypeName } from "@oar/tensor";
import { requireModelDirectory, UsageError } from "@oar/cli";
import type { Writable } from "node:stream";

export type Mode = "dynamic" | "static";
export type Device = "cpu" | "gpu";

/** Options of `createServer`; only modelDir is required. Flag names in comments. */
export interface ServerOptions {
  /** `--model_name_or_path`: a checkpoint (dynamic mode) or an inference directory written by export-model (static mode). */
  readonly modelDir: string;
  /** `--mode`: default by the directory (an inference directory has oar_inference.json). */
  readonly mode?: Mode;
  /** `--device`: static mode may use onnxruntime's CUDA provider. Default "cpu". */
  readonly device?: Device;
  /** `--host`, for the bin's listen. Default 127.0.0.1. */
  readonly host?: string;
  /** `--port`, for the bin's listen. Default 8011. */
  readonly port?: number;
  /** `--batch_size`: sequences in flight at once (slots). Default 8. */
  readonly batchSize?: number;
  /** `--block_attn` (dynamic mode): a paged KV cache from one pool. Static mode runs what was exported. */
  readonly blockAttn?: boolean;
  /** `--block_size`: positions per KV block with blockAttn. Default 64. */
  readonly blockSize?: number;
  /**
   * `--max_model_len`: prompt plus completion tokens at most. Default: what
   * the model holds, at most 4096 (llama-server's default context), so the
   * KV pool of batchSize sequences stays small for long-context models.
   */
  readonly maxModelLen?: number;
  /** `--served_model_name`: the id clients send as `model`. Default: the directory's name. */
  readonly servedModelName?: string;
  /** `--api_key` (or OAR_API_KEY in the bin): clients must send `Authorization: Bearer KEY`. Default: none. */
  readonly apiKey?: string | null;
  /** `--lora_path` (dynamic mode): LoRA adapters merged at load, in order. */
  readonly loraPaths?: readonly string[];
  /** `--chat_template`: a jinja file used instead of the tokenizer's template. */
  readonly chatTemplate?: string | null;
  /** `--max_queue`: requests waiting for a slot at most; more are answered 429. Default 256. */
  readonly maxQueue?: number;
  /** `--dtype` (dynamic mode): weight storage. Default: the checkpoint's own. */
  readonly dtype?: TorchDTypeName | null;
  /** `--quant_type` (dynamic mode: weight_only_int8; static mode: as exported). Default "". */
  readonly quantType?: QuantTypeName;
  /** Serve the chat page at `/` (`--no_webui` turns it off). Default true. */
  readonly webui?: boolean;
  /** On shutdown, how long in-flight requests may run before they are aborted. Default 20 s. */
  readonly shutdownGraceMs?: number;
  /** Where the log lines (pino JSON) go: false for none. Default: stdout. */
  readonly log?: false | { readonly stream?: Writable; readonly level?: string };
}

/** Defaults of the options that have one, as `--help` shows them. */
export const SERVER_DEFAULTS = {
  device: "cpu",
  host: "127.0.0.1",
  port: 8011,
  batchSize: 8,
  blockAttn: false,
  blockSize: 64,
  maxModelLenCap: 4096,
  maxQueue: 256,
  quantType: "",
  webui: true,
  shutdownGraceMs: 20_000,
} as const;

/** The options with defaults applied and checked; the model's own limits come later (see model.ts). */
export interface ResolvedOptions {
  readonly modelDir: string;
  readonly mode: Mode | null;
  readonly device: Device;
  readonly host: string;
  readonly port: number;
  readonly batchSize: number;
  readonly blockAttn: boolean;
  readonly blockSize: number;
  /** null: the model's own, capped at 4096. */
  readonly maxModelLen: number | null;
  readonly servedModelName: string;
  readonly apiKey: string | null;
  readonly loraPaths: readonly string[];
  /** The template file's text and path. */
  readonly chatTemplate: { readonly path: string; readonly text: string } | null;
  readonly maxQueue: number;
  readonly dtype: TorchDTypeName | null;
  readonly quantType: QuantTypeName;
  /** Which of dtype, quant_type, block_attn, block_size were given: static mode checks them against the export. */
  readonly graphOptionsGiven: readonly ("dtype" | "quant_type" | "block_attn" | "block_size")[];
  readonly webui: boolean;
  readonly shutdownGraceMs: number;
  readonly log: ServerOptions["log"];
}

/** Applies defaults and checks every option; a mistake is a UsageError naming the flag. */
export function resolveOptions(options: ServerOptions): ResolvedOptions {
  const { modelDir } = options;
  if (typeof modelDir !== "string" || modelDir === "") throw new UsageError("--model_name_or_path DIR is required");
  requireModelDirectory(modelDir);
  const integer = (flag: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = value ?? fallback;
    if (!(Number.isSafeInteger(v) && v >= min && v <= max)) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}], got ${v}`);
    return v;
  };
  const mode = options.mode ?? null;
  if (mode !== null && mode !== "dynamic" && mode !== "static") throw new UsageError(`--mode must be dynamic or static, got ${String(mode)}`);
  const device = options.device ?? SERVER_DEFAULTS.device;
  if (device !== "cpu" && device !== "gpu") throw new UsageError(`--device must be cpu or gpu, got ${String(device)}`);
  const host = options.host ?? SERVER_DEFAULTS.host;
  if (typeof host !== "string" || host === "") throw new UsageError("--host needs an address");
  const apiKey = options.apiKey ?? null;
  if (apiKey !== null && (typeof apiKey !== "string" || apiKey === "")) throw new UsageError("--api_key must not be empty");
  const servedModelName = options.servedModelName ?? path.basename(path.resolve(modelDir));
  if (typeof servedModelName !== "string" || servedModelName === "") throw new UsageError("--served_model_name must not be empty");
  const given: ResolvedOptions["graphOptionsGiven"][number][] = [];
  if (options.dtype != null) given.push("dtype");
  if (options.quantType !== undefined && options.quantType !== "") given.push("quant_type");
  if (options.blockAttn !== undefined) given.push("block_attn");
  if (options.blockSize !== undefined) given.push("block_size");
  const blockAttn = options.blockAttn ?? SERVER_DEFAULTS.blockAttn;
  if (options.blockSize !== undefined && !blockAttn) throw new UsageError("--block_size applies to block attention; add --block_attn");
  const webui = options.webui ?? SERVER_DEFAULTS.webui;
  if (typeof webui !== "boolean") throw new UsageError(`--no_webui takes no value but true or false, got ${String(webui)}`);
  const loraPaths = options.loraPaths ?? [];
  for (const dir of loraPaths) requireModelDirectory(dir, "--lora_path");
  const resolved: ResolvedOptions = {
    modelDir,
    mode,
    device,
    host,
    port: integer("port", options.port, SERVER_DEFAULTS.port, 0, 65535),
    batchSize: integer("batch_size", options.batchSize, SERVER_DEFAULTS.batchSize, 1, 1024),
    blockAttn,
    blockSize: integer("block_size", options.blockSize, SERVER_DEFAULTS.blockSize, 1, 65536),
    maxModelLen: options.maxModelLen === undefined ? null : integer("max_model_len", options.maxModelLen, 0, 2),
    servedModelName,
    apiKey,
    loraPaths,
    chatTemplate: readTemplate(options.chatTemplate ?? null),
    maxQueue: integer("max_queue", options.maxQueue, SERVER_DEFAULTS.maxQueue, 0),
    dtype: options.dtype ?? null,
    quantType: options.quantType ?? SERVER_DEFAULTS.quantType,
    graphOptionsGiven: given,
    webui,
    shutdownGraceMs: integer("shutdown_grace_ms", options.shutdownGraceMs, SERVER_DEFAULTS.shutdownGraceMs, 0),
    log: options.log,
  };
  if (resolved.mode === "static" || (resolved.mode === null && isInferenceDirectory(modelDir))) {
    if (loraPaths.length > 0) throw new UsageError("--lora_path: static mode runs an exported graph; merge LoRA when exporting (export-model --lora_path)");
  } else if (device === "gpu") {
    throw new UsageError("--device gpu: dynamic mode runs on the CPU; export the model with export-model and serve the inference directory");
  }
  return resolved;
}

function readTemplate(file: string | null): ResolvedOptions["chatTemplate"] {
  if (file === null) return null;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`--chat_template ${file}: cannot read the template: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a template file" : (e as Error).message}`);
  }
  if (text.trim() === "") throw new UsageError(`--chat_template ${file}: the template file is empty`);
  return { path: file, text };
}
