/**
 * Loading a tokenizer from a checkpoint directory in the Hugging Face layout.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { buildTokenizer, type OarTokenizer } from "./tokenizer.js";

/** Reads and parses one JSON file; undefined when it is optional and absent. */
async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !required) return undefined;
    const reason = code === "ENOENT" ? "file not found" : `cannot read (${code ?? String(error)})`;
    throw new Error(`${path}: ${reason}; a tokenizer directory needs tokenizer.json and tokenizer_config.json`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON: ${(error as Error).message.replace(/\s+/g, " ")}`);
  }
}

/**
 * Loads the tokenizer of a checkpoint directory: `tokenizer.json`,
 * `tokenizer_config.json` (both required) and `generation_config.json`
 * (optional; its eos_token_id joins the EOS ids). Asynchronous because it
 * reads files; building the tokenizer itself takes about 200 ms for the
 * 151k-token Qwen2 vocabulary, so load once and share the result.
 *
 * Throws an Error whose one-line message starts with the path of the file at
 * fault and says what is wrong with it.
 */
export async function loadTokenizer(dir: string): Promise<OarTokenizer> {
  const names = {
    tokenizer: join(dir, "tokenizer.json"),
    config: join(dir, "tokenizer_config.json"),
    generation: join(dir, "generation_config.json"),
  };
  const read = await Promise.allSettled([
    readJson(names.tokenizer, true),
    readJson(names.config, true),
    readJson(names.generation, false),
  ]);
  // Report the first file at fault in this order, whichever read failed first.
  const [tokenizerJson, tokenizerConfig, generationConfig] = read.map((result) => {
    if (result.status === "rejected") throw result.reason;
    return result.value;
  });
  return buildTokenizer({ tokenizerJson, tokenizerConfig, generationConfig }, names);
}
