/**
 * The settings a tokenizer takes from `tokenizer_config.json` and
 * `generation_config.json`, checked field by field. Both files are written by
 * many tools over many versions of transformers, so every field is optional
 * and every field that is present must have a type we understand: a wrong
 * type is an error naming the file and the field, never a silent default.
 */

/** What `tokenizer_config.json` says, with special tokens reduced to their text. */
export interface TokenizerSettings {
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  unkToken: string | null;
  additionalSpecialTokens: string[];
  /** `add_bos_token`; null when absent (the post-processor of tokenizer.json decides). */
  addBosToken: boolean | null;
  /** `add_eos_token`; null when absent. */
  addEosToken: boolean | null;
  /**
   * `clean_up_tokenization_spaces`; absent means false, as in transformers
   * since 4.45 (older versions defaulted to true and wrote the field out).
   */
  cleanUpTokenizationSpaces: boolean;
  /** Named chat templates; a plain-string `chat_template` is named "default". */
  chatTemplates: Record<string, string>;
}

/** What `generation_config.json` says about token ids. */
export interface GenerationSettings {
  /** `eos_token_id`, as a list (empty when absent or null). */
  eosTokenIds: number[];
  /** `pad_token_id`; null when absent. */
  padTokenId: number | null;
  /** Baichuan's `user_token_id` (195): the token before each user message; null when absent. */
  userTokenId: number | null;
  /** Baichuan's `assistant_token_id` (196): the token before each reply; null when absent. */
  assistantTokenId: number | null;
}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shortest faithful picture of a bad value for an error message. */
export function describeValue(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Reads a special token written as a string, null, or an AddedToken object with `content`. */
function specialToken(config: JsonObject, field: string, file: string): string | null {
  const value = config[field];
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (isObject(value) && typeof value.content === "string") return value.content;
  throw new Error(
    `${file}: ${field} must be a string, null, or an object with a string "content"; found ${describeValue(value)}`,
  );
}

/** A boolean field of a config object; null when absent or null. */
export function optionalBoolean(config: JsonObject, field: string, file: string): boolean | null {
  const value = config[field];
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean") return value;
  throw new Error(`${file}: ${field} must be true or false; found ${describeValue(value)}`);
}

function additionalSpecialTokens(config: JsonObject, file: string): string[] {
  const value = config.additional_special_tokens;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw new Error(`${file}: additional_special_tokens must be a list; found ${describeValue(value)}`);
  }
  return value.map((item: unknown, i) => {
    if (typeof item === "string") return item;
    if (isObject(item) && typeof item.content === "string") return item.content;
    throw new Error(
      `${file}: additional_special_tokens[${i}] must be a string or an object with a string "content"; found ${describeValue(item)}`,
    );
  });
}

function chatTemplates(config: JsonObject, file: string): Record<string, string> {
  const value = config.chat_template;
  if (value === undefined || value === null) return {};
  if (typeof value === "string") return { default: value };
  if (!Array.isArray(value)) {
    throw new Error(
      `${file}: chat_template must be a string or a list of {"name", "template"} objects; found ${describeValue(value)}`,
    );
  }
  const templates: Record<string, string> = {};
  value.forEach((item: unknown, i) => {
    if (!isObject(item) || typeof item.name !== "string" || typeof item.template !== "string") {
      throw new Error(
        `${file}: chat_template[${i}] must be an object with string "name" and "template"; found ${describeValue(item)}`,
      );
    }
    if (item.name in templates) {
      throw new Error(`${file}: chat_template names "${item.name}" twice`);
    }
    templates[item.name] = item.template;
  });
  return templates;
}

/** Checks and reads a parsed `tokenizer_config.json`; `file` names it in errors. */
export function parseTokenizerSettings(json: unknown, file: string): TokenizerSettings {
  if (!isObject(json)) {
    throw new Error(`${file}: expected a JSON object; found ${describeValue(json)}`);
  }
  return {
    bosToken: specialToken(json, "bos_token", file),
    eosToken: specialToken(json, "eos_token", file),
    padToken: specialToken(json, "pad_token", file),
    unkToken: specialToken(json, "unk_token", file),
    additionalSpecialTokens: additionalSpecialTokens(json, file),
    addBosToken: optionalBoolean(json, "add_bos_token", file),
    addEosToken: optionalBoolean(json, "add_eos_token", file),
    cleanUpTokenizationSpaces: optionalBoolean(json, "clean_up_tokenization_spaces", file) ?? false,
    chatTemplates: chatTemplates(json, file),
  };
}

function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

/** Checks and reads a parsed `generation_config.json`; `file` names it in errors. */
export function parseGenerationSettings(json: unknown, file: string): GenerationSettings {
  if (!isObject(json)) {
    throw new Error(`${file}: expected a JSON object; found ${describeValue(json)}`);
  }
  const eos = json.eos_token_id;
  let eosTokenIds: number[];
  if (eos === undefined || eos === null) {
    eosTokenIds = [];
  } else if (isTokenId(eos)) {
    eosTokenIds = [eos];
  } else if (Array.isArray(eos) && eos.every(isTokenId)) {
    eosTokenIds = eos;
  } else {
    throw new Error(
      `${file}: eos_token_id must be a token id or a list of token ids; found ${describeValue(eos)}`,
    );
  }
  const tokenId = (field: string): number | null => {
    const value = json[field];
    if (value === undefined || value === null) return null;
    if (!isTokenId(value)) throw new Error(`${file}: ${field} must be a token id; found ${describeValue(value)}`);
    return value;
  };
  return {
    eosTokenIds,
    padTokenId: tokenId("pad_token_id"),
    userTokenId: tokenId("user_token_id"),
    assistantTokenId: tokenId("assistant_token_id"),
  };
}
