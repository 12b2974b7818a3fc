/**
 * The golden files under packages/tokenizer/goldens/ (written by
 * goldens/make_goldens.py with the real sentencepiece, tiktoken,
 * tokenizers and transformers), for this package's tests. Not exported by
 * index.ts; not named like a test file, so `node --test` does not run it.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The goldens folder (from dist/, one level below the package). */
export const GOLDENS_DIR = fileURLToPath(new URL("../goldens/", import.meta.url));

/** Reads and parses a JSON file of the goldens folder. */
export function readGolden<T>(name: string): T {
  return JSON.parse(readFileSync(`${GOLDENS_DIR}${name}`, "utf8")) as T;
}

/** Reads a binary file of the goldens folder. */
export function readGoldenBytes(name: string): Uint8Array {
  return readFileSync(`${GOLDENS_DIR}${name}`);
}

/** The five sentencepiece models of goldens/sentencepiece/, by name. */
export const SENTENCEPIECE_MODELS = ["llama-bpe", "unigram-nfkc", "bpe-rules", "unigram-bytes", "baichuan-bpe"] as const;
