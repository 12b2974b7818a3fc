/**
 * The command line of `oar-server`: flags in the style of the predictor and
 * vLLM (snake_case, each with a kebab-case alias), parsed by yargs and passed
 * through to `createServer`'s options, which own the defaults and the checks.
 */
import yargs, { type Argv } from "yargs";
import { UsageError } from "@oar/cli";
import type { QuantTypeName } from "@oar/modeling";
import type { TorchDTypeName } from "@oar/tensor";
import { SERVER_DEFAULTS, type Device, type Mode, type ServerOptions } from "./options.js";

/** The yargs parser of the command line (help, strict flags). */
export function serverCli(args: readonly string[]): Argv {
  return yargs([...args])
    .scriptName("oar-server")
    .usage(
      "$0 --model_name_or_path DIR [options]\n\n" +
        "Serves a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models), with " +
        "continuous batching: a Hugging Face checkpoint (dynamic mode) or a directory written by export-model (static mode).",
    )
    .example("$0 --model_name_or_path ./Qwen2-0.5B-Instruct --batch_size 8", "a checkpoint on the eager model")
    .example("$0 --model_name_or_path ./inference --port 8000 --api_key secret", "an exported graph on onnxruntime")
    .group(["model_name_or_path", "mode", "device", "dtype", "quant_type", "block_attn", "block_size", "lora_path", "chat_template"], "Model:")
    .group(["host", "port", "served_model_name", "api_key", "batch_size", "max_model_len", "max_queue", "no_webui"], "Serving:")
    .option("model_name_or_path", { type: "string", alias: "model-name-or-path", describe: "checkpoint directory (dynamic) or export-model's output directory (static); required" })
    .option("mode", { type: "string", choices: ["dynamic", "static"], defaultDescription: "static for an inference directory, else dynamic" })
    .option("device", { type: "string", choices: ["cpu", "gpu"], defaultDescription: SERVER_DEFAULTS.device, describe: "gpu: static mode on onnxruntime's CUDA provider" })
    .option("dtype", { type: "string", choices: ["float32", "float16", "bfloat16"], defaultDescription: "the checkpoint's torch_dtype", describe: "weight storage in dynamic mode" })
    .option("quant_type", { type: "string", alias: "quant-type", choices: ["", "weight_only_int8", "weight_only_int4", "a8w8"], defaultDescription: '"" (none)', describe: "weight_only_int8 quantizes at load (dynamic); int4 and a8w8 come from export-model (static)" })
    .option("block_attn", { type: "boolean", alias: "block-attn", defaultDescription: "false", describe: "block attention: a paged KV cache drawn from one pool (dynamic; static serves what was exported)" })
    .option("block_size", { type: "number", alias: "block-size", defaultDescription: String(SERVER_DEFAULTS.blockSize), describe: "positions per KV block with --block_attn" })
    .option("lora_path", { type: "string", array: true, alias: "lora-path", describe: "adapter directories (PEFT or PaddleNLP; LoRA merged at load), dynamic mode" })
    .option("chat_template", { type: "string", alias: "chat-template", defaultDescription: "the tokenizer's template", describe: "a jinja chat template file to use instead" })
    .option("host", { type: "string", defaultDescription: SERVER_DEFAULTS.host, describe: "address to listen on" })
    .option("port", { type: "number", defaultDescription: String(SERVER_DEFAULTS.port), describe: "port to listen on (0: any free port)" })
    .option("served_model_name", { type: "string", alias: "served-model-name", defaultDescription: "the directory's name", describe: "the model id clients send" })
    .option("api_key", { type: "string", alias: "api-key", defaultDescription: "$OAR_API_KEY, else none", describe: "require 'Authorization: Bearer KEY' on /v1 and the tokenizer routes" })
    .option("batch_size", { type: "number", alias: "batch-size", defaultDescription: String(SERVER_DEFAULTS.batchSize), describe: "sequences in flight at once (continuous batching)" })
    .option("max_model_len", { type: "number", alias: "max-model-len", defaultDescription: `what the model holds, at most ${SERVER_DEFAULTS.maxModelLenCap}`, describe: "prompt plus completion tokens at most; sizes the KV cache" })
    .option("max_queue", { type: "number", alias: "max-queue", defaultDescription: String(SERVER_DEFAULTS.maxQueue), describe: "requests waiting for a slot at most; more are answered 429" })
    .option("no_webui", { type: "boolean", defaultDescription: "false (the page is served)", describe: "do not serve the chat page at /" })
    // yargs reads the kebab-case --no-webui as webui=false.
    .option("webui", { type: "boolean", hidden: true })
    .strict()
    .version(false)
    .help()
    .wrap(Math.min(120, process.stdout.columns ?? 120));
}

/** The options of what yargs parsed; the API key falls back to OAR_API_KEY in `env`. */
export function serverOptionsOf(argv: Record<string, unknown>, env: NodeJS.ProcessEnv): ServerOptions {
  for (const [key, value] of Object.entries(argv)) {
    if (/^[a-z_]+$/.test(key) && key !== "_" && key !== "lora_path" && Array.isArray(value)) throw new UsageError(`--${key} was given ${value.length} times; give it once`);
  }
  const positional = argv["_"];
  if (Array.isArray(positional) && positional.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(String(positional[0]))}; flags are --name value`);
  const pick = <T>(flag: string): T | undefined => argv[flag] as T | undefined;
  const number = (flag: string): number | undefined => {
    const v = argv[flag];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || Number.isNaN(v)) throw new UsageError(`--${flag} needs a number`);
    return v;
  };
  const apiKey = pick<string>("api_key") ?? env["OAR_API_KEY"];
  const options: ServerOptions = {
    modelDir: pick<string>("model_name_or_path") ?? "",
    ...defined("mode", pick<Mode>("mode")),
    ...defined("device", pick<Device>("device")),
    ...defined("dtype", pick<TorchDTypeName>("dtype")),
    ...defined("quantType", pick<QuantTypeName>("quant_type")),
    ...defined("blockAttn", pick<boolean>("block_attn")),
    ...defined("blockSize", number("block_size")),
    ...defined("loraPaths", pick<string[]>("lora_path")?.map(String)),
    ...defined("chatTemplate", pick<string>("chat_template")),
    ...defined("host", pick<string>("host")),
    ...defined("port", number("port")),
    ...defined("servedModelName", pick<string>("served_model_name")),
    ...defined("apiKey", apiKey === "" ? undefined : apiKey),
    ...defined("batchSize", number("batch_size")),
    ...defined("maxModelLen", number("max_model_len")),
    ...defined("maxQueue", number("max_queue")),
    ...defined("webui", argv["no_webui"] === true || argv["webui"] === false ? false : undefined),
  };
  return options;
}

/** Parses a command line into options, without printing or exiting: a mistake throws a UsageError. */
export function parseServerArgs(args: readonly string[], env: NodeJS.ProcessEnv = {}): ServerOptions {
  const argv = serverCli(args)
    .exitProcess(false)
    .fail((message, error) => {
      throw new UsageError(error?.message ?? message);
    })
    .parseSync();
  return serverOptionsOf(argv, env);
}

function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
