import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, type DecoderConfig } from "../config.js";
import { JsonConfig } from "./json-config.js";
import { llamaConfig, mistralConfig } from "./llama.js";
import { qwen2Config } from "./qwen2.js";

/** config.json `architectures[0]` -> how to read the rest of the file. */
const REGISTRY: Readonly<Record<string, (c: JsonConfig, architecture: string) => DecoderConfig>> = {
  Qwen2ForCausalLM: qwen2Config,
  LlamaForCausalLM: llamaConfig,
  MistralForCausalLM: mistralConfig,
};

export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.keys(REGISTRY);

/** Normalizes a parsed config.json. `file` names it in errors. */
export function parseDecoderConfig(json: unknown, file = "config.json"): DecoderConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`${file}: must hold a JSON object`);
  }
  const c = new JsonConfig(json as Record<string, unknown>, file);
  const archs = c.raw("architectures");
  const architecture = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : null;
  if (architecture === null) throw c.error("architectures", "must be a list naming the model class, e.g. [\"Qwen2ForCausalLM\"]");
  const read = REGISTRY[architecture];
  if (read === undefined) {
    throw c.error("architectures", `names ${architecture}, which is not supported (supported: ${SUPPORTED_ARCHITECTURES.join(", ")})`);
  }
  return read(c, architecture);
}

/** Reads and normalizes `dir/config.json`. */
export function readDecoderConfig(dir: string): DecoderConfig {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new ConfigError(`${file}: cannot be read (is ${dir} a model directory?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseDecoderConfig(json, file);
}
