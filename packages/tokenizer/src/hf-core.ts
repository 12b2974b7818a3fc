/**
 * The tokenizer.json format: run by @huggingface/tokenizers (the JavaScript
 * port of Hugging Face's Rust `tokenizers`).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type { TokenizerSettings } from "./config.js";
import { describeValue } from "./config.js";
import type { Framing, TokenizerCore } from "./core.js";

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, " ").trim();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks what @huggingface/tokenizers reads without checking, so a bad file fails with its name. */
function checkTokenizerJson(json: unknown, file: string): Record<string, unknown> {
  if (!isObject(json)) throw new Error(`${file}: expected a JSON object; found ${describeValue(json)}`);
  if (!isObject(json.model) || typeof json.model.type !== "string") {
    throw new Error(`${file}: "model" must be an object with a string "type"; found ${describeValue(json.model)}`);
  }
  if (!Array.isArray(json.added_tokens)) {
    throw new Error(`${file}: "added_tokens" must be a list; found ${describeValue(json.added_tokens)}`);
  }
  json.added_tokens.forEach((token: unknown, i) => {
    if (
      !isObject(token) ||
      typeof token.content !== "string" ||
      !(typeof token.id === "number" && Number.isInteger(token.id) && token.id >= 0)
    ) {
      throw new Error(
        `${file}: added_tokens[${i}] must have a string "content" and a whole-number "id"; found ${describeValue(token)}`,
      );
    }
  });
  for (const field of ["normalizer", "pre_tokenizer", "post_processor", "decoder"]) {
    if (json[field] === undefined) {
      throw new Error(`${file}: "${field}" is missing (it may be null, but must be present)`);
    }
  }
  return json;
}

function arraysEqualAt(haystack: readonly number[], needle: readonly number[], at: number): boolean {
  return needle.every((id, i) => haystack[at + i] === id);
}

/**
 * Finds the framing by encoding a probe text with and without special tokens
 * (the post-processor's templates do not depend on the text), then applies
 * `add_bos_token`/`add_eos_token`, which transformers lets override the
 * post-processor of Llama-style tokenizers.
 */
function findFraming(lib: Tokenizer, settings: TokenizerSettings, file: string): Framing {
  const idOf = (token: string | null): number | null => (token === null ? null : (lib.token_to_id(token) ?? null));
  const bosTokenId = idOf(settings.bosToken);
  const eosTokenId = idOf(settings.eosToken);
  const probe = "a";
  const framed = lib.encode(probe, { add_special_tokens: true }).ids;
  const bare = lib.encode(probe, { add_special_tokens: false }).ids;
  let at = -1;
  for (let i = 0; i + bare.length <= framed.length; i++) {
    if (arraysEqualAt(framed, bare, i)) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    throw new Error(
      `${file}: the post_processor changes the tokens of the text itself; only special tokens added before and after it are supported`,
    );
  }
  let prefix = framed.slice(0, at);
  let suffix = framed.slice(at + bare.length);
  if (bosTokenId !== null && settings.addBosToken !== null) {
    const has = prefix[0] === bosTokenId;
    if (settings.addBosToken && !has) prefix = [bosTokenId, ...prefix];
    if (!settings.addBosToken && has) prefix = prefix.slice(1);
  }
  if (eosTokenId !== null && settings.addEosToken !== null) {
    const has = suffix[suffix.length - 1] === eosTokenId;
    if (settings.addEosToken && !has) suffix = [...suffix, eosTokenId];
    if (!settings.addEosToken && has) suffix = suffix.slice(0, -1);
  }
  return { prefix, suffix };
}

/**
 * A core over a parsed tokenizer.json. `tokenizerConfig` is the parsed
 * tokenizer_config.json (the library reads some of its fields), `settings`
 * what config.ts made of it; `file` names tokenizer.json in errors.
 */
export function createHfCore(
  tokenizerJson: unknown,
  tokenizerConfig: unknown,
  settings: TokenizerSettings,
  file: string,
): TokenizerCore {
  const json = checkTokenizerJson(tokenizerJson, file);
  let lib: Tokenizer;
  try {
    // The library reads special tokens from the config as plain strings.
    lib = new Tokenizer(json, {
      ...(tokenizerConfig as Record<string, unknown>),
      bos_token: settings.bosToken,
      eos_token: settings.eosToken,
      pad_token: settings.padToken,
      unk_token: settings.unkToken,
      additional_special_tokens: settings.additionalSpecialTokens,
    });
  } catch (error) {
    throw new Error(`${file}: ${oneLine(error)}`);
  }
  let vocabSize = 0;
  for (const id of lib.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  const specialIds = new Set<number>();
  for (const [id, token] of lib.get_added_tokens_decoder()) if (token.special) specialIds.add(id);

  return {
    vocabSize,
    tokenToId: (token) => lib.token_to_id(token) ?? null,
    idToToken: (id) => lib.id_to_token(id) ?? null,
    encodeText: (text) => lib.encode(text, { add_special_tokens: false }).ids,
    decodeRaw: (ids) =>
      ids.length === 0 ? "" : lib.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false }),
    specialIds,
    framing: findFraming(lib, settings, file),
  };
}
