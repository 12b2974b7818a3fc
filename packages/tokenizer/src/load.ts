/**
 * Loading a tokenizer from a checkpoint directory in the Hugging Face layout.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FileNames, TokenizerFiles } from "./formats.js";
import { buildTokenizer, type OarTokenizer } from "./tokenizer.js";

const NEEDS =
  "a tokenizer directory needs tokenizer.json, or tokenizer.model, or vocab.json with merges.txt, and tokenizer_config.json";

/** A file's bytes; undefined when it does not exist. */
async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new Error(`${path}: cannot read (${code ?? String(error)})`);
  }
}

function parseJson(path: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw new Error(`${path}: not valid JSON: ${(error as Error).message.replace(/\s+/g, " ")}`);
  }
}

/**
 * Loads the tokenizer of a checkpoint directory. It reads, by what is there:
 *
 * - `tokenizer.json` (preferred), else `tokenizer.model` (sentencepiece, or
 *   GLM-4's tiktoken ranks), else `vocab.json` + `merges.txt` (GPT-2);
 * - `tokenizer_config.json` (required, except beside vocab.json + merges.txt);
 * - `generation_config.json` (optional: its eos_token_id joins the EOS ids;
 *   Baichuan's user_token_id and assistant_token_id give its chat format);
 * - `tokenization_chatglm.py` when present, read as text and never run: it
 *   tells ChatGLM3 from ChatGLM2.
 *
 * Asynchronous because it reads files; building the tokenizer itself takes
 * about 200 ms for the 151k-token Qwen2 vocabulary, so load once and share
 * the result. Throws an Error whose one-line message starts with the path of
 * the file at fault and says what is wrong with it.
 */
export async function loadTokenizer(dir: string): Promise<OarTokenizer> {
  const names: FileNames = {
    tokenizer: join(dir, "tokenizer.json"),
    tokenizerModel: join(dir, "tokenizer.model"),
    vocab: join(dir, "vocab.json"),
    merges: join(dir, "merges.txt"),
    config: join(dir, "tokenizer_config.json"),
    generation: join(dir, "generation_config.json"),
  };
  const files: TokenizerFiles = {};
  const tokenizerJson = await readOptional(names.tokenizer);
  if (tokenizerJson !== undefined) {
    files.tokenizerJson = parseJson(names.tokenizer, tokenizerJson);
  } else {
    const model = await readOptional(names.tokenizerModel);
    if (model !== undefined) {
      files.tokenizerModel = model;
    } else {
      const [vocab, merges] = await Promise.all([readOptional(names.vocab), readOptional(names.merges)]);
      if (vocab === undefined || merges === undefined) throw new Error(`${names.tokenizer}: file not found; ${NEEDS}`);
      files.vocabJson = parseJson(names.vocab, vocab);
      files.mergesTxt = merges.toString("utf8");
    }
  }
  const config = await readOptional(names.config);
  if (config !== undefined) files.tokenizerConfig = parseJson(names.config, config);
  else if (files.vocabJson === undefined) throw new Error(`${names.config}: file not found; ${NEEDS}`);
  const generation = await readOptional(names.generation);
  if (generation !== undefined) files.generationConfig = parseJson(names.generation, generation);
  const remote = await readOptional(join(dir, "tokenization_chatglm.py"));
  if (remote !== undefined) files.remoteTokenizerCode = remote.toString("utf8");
  return buildTokenizer(files, names);
}
