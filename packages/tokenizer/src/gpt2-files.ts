/**
 * GPT-2's tokenizer files, vocab.json + merges.txt, as the tokenizer.json
 * transformers writes when it converts them (GPT2Converter): a byte-level
 * BPE with GPT-2's pre-tokenizer, no unknown token, and the special tokens
 * of tokenizer_config.json as added tokens. The result runs on the same
 * library as any tokenizer.json.
 */
import type { AddedToken } from "./added-tokens.js";
import { describeValue } from "./config.js";

export interface Gpt2Files {
  /** Parsed vocab.json: token -> id. */
  vocab: unknown;
  /** merges.txt's text. */
  merges: string;
  /** Tokens cut out of text (special tokens and tokenizer_config.json's added tokens). */
  addedTokens: readonly AddedToken[];
  /** tokenizer_config.json's add_prefix_space (GPT2Tokenizer's default: false). */
  addPrefixSpace: boolean;
}

/** How errors name the files. */
export interface Gpt2FileNames {
  vocab: string;
  merges: string;
}

/** Checks vocab.json: an object of tokens to distinct whole-number ids. */
export function checkGpt2Vocab(vocab: unknown, file: string): Record<string, number> {
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) {
    throw new Error(`${file}: expected a JSON object of tokens to ids; found ${describeValue(vocab)}`);
  }
  const seen = new Map<number, string>();
  for (const [token, id] of Object.entries(vocab)) {
    if (!(typeof id === "number" && Number.isSafeInteger(id) && id >= 0)) {
      throw new Error(`${file}: the id of ${JSON.stringify(token)} must be a whole number >= 0; found ${describeValue(id)}`);
    }
    const other = seen.get(id);
    if (other !== undefined) throw new Error(`${file}: ${JSON.stringify(other)} and ${JSON.stringify(token)} both have id ${id}`);
    seen.set(id, token);
  }
  return vocab as Record<string, number>;
}

/** Reads merges.txt: an optional "#version" line, then one "left right" pair per line. */
export function parseGpt2Merges(text: string, vocab: Record<string, number>, file: string): string[] {
  const merges: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.length === 0 || (i === 0 && line.startsWith("#version"))) return;
    const parts = line.split(" ");
    if (parts.length !== 2 || parts[0] === "" || parts[1] === "") {
      throw new Error(`${file}: line ${i + 1}: expected two tokens separated by one space; found ${JSON.stringify(line.slice(0, 60))}`);
    }
    for (const token of [parts[0] as string, parts[1] as string, `${parts[0]}${parts[1]}`]) {
      if (!Object.hasOwn(vocab, token)) throw new Error(`${file}: line ${i + 1}: ${JSON.stringify(token)} is not in the vocabulary`);
    }
    merges.push(line);
  });
  return merges;
}

/** The tokenizer.json of GPT-2's files; `names` name them in errors. */
export function gpt2TokenizerJson(files: Gpt2Files, names: Gpt2FileNames): Record<string, unknown> {
  const vocab = checkGpt2Vocab(files.vocab, names.vocab);
  const merges = parseGpt2Merges(files.merges, vocab, names.merges);
  const byteLevel = { type: "ByteLevel", add_prefix_space: files.addPrefixSpace, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: files.addedTokens.map((t) => ({
      id: t.id,
      content: t.content,
      single_word: t.singleWord,
      lstrip: t.lstrip,
      rstrip: t.rstrip,
      normalized: false,
      special: t.special,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
