/**
 * The tokenizer of a checkpoint: tokenizer.json run by @huggingface/tokenizers,
 * with the special tokens, defaults and chat templates of
 * tokenizer_config.json and the stop ids of generation_config.json.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import type { Template } from "@huggingface/jinja";
import { packBatch, type BatchEncoding } from "./batch.js";
import { parseChatTemplate, renderChatTemplate, type ChatMessage } from "./chat-template.js";
import { cleanUpTokenization } from "./cleanup.js";
import {
  describeValue,
  parseGenerationSettings,
  parseTokenizerSettings,
  type TokenizerSettings,
} from "./config.js";
import { createStreamDecoder, type StreamDecoder } from "./stream-decoder.js";

/** The parsed JSON of a checkpoint's tokenizer files. */
export interface TokenizerFiles {
  /** tokenizer.json */
  tokenizerJson: unknown;
  /** tokenizer_config.json */
  tokenizerConfig: unknown;
  /** generation_config.json, when the checkpoint has one. */
  generationConfig?: unknown;
}

/** How errors name each file. */
export interface FileNames {
  tokenizer: string;
  config: string;
  generation: string;
}

export interface EncodeOptions {
  /**
   * Add the special tokens tokenizer.json's post-processor and
   * tokenizer_config.json's `add_bos_token`/`add_eos_token` call for (a BOS
   * for Llama; nothing for Qwen2). Default true, as in transformers. Text
   * rendered by a chat template already holds its special tokens: encode it
   * with false, or use `encodeChat`.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /**
   * Leave special tokens (`<|im_end|>`, `<|endoftext|>`, `<s>`) out of the
   * text. Default true: decoded text is for people. Special means marked
   * special in tokenizer.json's added_tokens, or named in
   * tokenizer_config.json as bos/eos/pad/unk or additional special token.
   */
  skipSpecialTokens?: boolean;
}

export interface BatchEncodeOptions extends EncodeOptions {
  /**
   * Longest prompt in tokens, special tokens included. Longer prompts keep
   * their last tokens and are listed in the result's `truncations`.
   */
  srcLength?: number;
}

export interface ChatTemplateOptions {
  /** End with the opening of an assistant turn (default true). */
  addGenerationPrompt?: boolean;
  /** Template text to use instead of the tokenizer's own (e.g. read from a file the user named). */
  template?: string;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3, or `tools`. */
  variables?: Record<string, unknown>;
}

export interface OarTokenizer {
  /** One more than the largest token id, added tokens included (Qwen2: 151665 or more). */
  readonly vocabSize: number;
  /** The BOS id; null when tokenizer_config.json has no bos_token (Qwen2). */
  readonly bosTokenId: number | null;
  /**
   * Every id that ends generation: tokenizer_config.json's eos_token first,
   * then generation_config.json's eos_token_id values, without repeats.
   * Qwen2-Instruct: [151645 (<|im_end|>), 151643 (<|endoftext|>)].
   */
  readonly eosTokenIds: readonly number[];
  /**
   * The padding id: tokenizer_config.json's pad_token, else
   * generation_config.json's pad_token_id, else the first EOS id; null when
   * none of these exists.
   */
  readonly padTokenId: number | null;
  /** The default chat template; null when the tokenizer has none. */
  readonly chatTemplate: string | null;
  /** Every named chat template (a plain-string chat_template is "default"). */
  readonly chatTemplates: Readonly<Record<string, string>>;

  /** The id of a token's text (e.g. "<|im_end|>"); null when it is not in the vocabulary. */
  tokenToId(token: string): number | null;
  /** The text of a token as the vocabulary spells it (byte-level symbols included); null when unknown. */
  idToToken(id: number): string | null;

  /** Token ids of one text. */
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * Text of token ids. Ids with no token (a model's embedding rows past the
   * vocabulary) decode to nothing, as in Hugging Face tokenizers.
   */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** Encodes prompts as one left-padded batch, truncated from the left to `srcLength`. */
  encodeBatch(texts: readonly string[], options?: BatchEncodeOptions): BatchEncoding;
  /** A decoder for one stream of generated ids; see StreamDecoder. */
  streamDecoder(options?: DecodeOptions): StreamDecoder;

  /** Renders a conversation with the chat template; the result already holds its special tokens. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /** `applyChatTemplate`, then `encode` with `addSpecialTokens: false`: the prompt ids of a conversation. */
  encodeChat(messages: readonly ChatMessage[], options?: ChatTemplateOptions): number[];
}

const DEFAULT_FILE_NAMES: FileNames = {
  tokenizer: "tokenizer.json",
  config: "tokenizer_config.json",
  generation: "generation_config.json",
};

/** A tokenizer from parsed JSON (tests, and packages that hold the files in memory). */
export function createTokenizer(files: TokenizerFiles): OarTokenizer {
  return buildTokenizer(files, DEFAULT_FILE_NAMES);
}

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

function checkTokenId(id: number, where: string): void {
  if (!(Number.isInteger(id) && id >= 0)) {
    throw new Error(`${where}: a token id must be a whole number >= 0; found ${describeValue(id)}`);
  }
}

function arraysEqualAt(haystack: readonly number[], needle: readonly number[], at: number): boolean {
  return needle.every((id, i) => haystack[at + i] === id);
}

/** The special ids the tokenizer adds before and after a text. */
interface Framing {
  prefix: number[];
  suffix: number[];
}

/**
 * Finds the framing by encoding a probe text with and without special tokens
 * (the post-processor's templates do not depend on the text), then applies
 * `add_bos_token`/`add_eos_token`, which transformers lets override the
 * post-processor of Llama-style tokenizers.
 */
function findFraming(
  lib: Tokenizer,
  settings: TokenizerSettings,
  bosTokenId: number | null,
  eosTokenId: number | null,
  file: string,
): Framing {
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

/** `createTokenizer`, with the names errors give each file (loadTokenizer passes paths). */
export function buildTokenizer(files: TokenizerFiles, names: FileNames): OarTokenizer {
  const tokenizerJson = checkTokenizerJson(files.tokenizerJson, names.tokenizer);
  const settings = parseTokenizerSettings(files.tokenizerConfig, names.config);
  const generation =
    files.generationConfig === undefined
      ? { eosTokenIds: [], padTokenId: null }
      : parseGenerationSettings(files.generationConfig, names.generation);

  let lib: Tokenizer;
  try {
    // The library reads special tokens from the config as plain strings.
    lib = new Tokenizer(tokenizerJson, {
      ...(files.tokenizerConfig as Record<string, unknown>),
      bos_token: settings.bosToken,
      eos_token: settings.eosToken,
      pad_token: settings.padToken,
      unk_token: settings.unkToken,
      additional_special_tokens: settings.additionalSpecialTokens,
    });
  } catch (error) {
    throw new Error(`${names.tokenizer}: ${oneLine(error)}`);
  }

  const idOf = (token: string, field: string): number => {
    const id = lib.token_to_id(token);
    if (id === undefined) {
      throw new Error(`${names.config}: ${field} ${JSON.stringify(token)} is not a token of ${names.tokenizer}`);
    }
    return id;
  };
  const idOfSet = (token: string | null, field: string): number | null => (token === null ? null : idOf(token, field));
  const bosTokenId = idOfSet(settings.bosToken, "bos_token");
  const eosTokenId = idOfSet(settings.eosToken, "eos_token");
  const configPadTokenId = idOfSet(settings.padToken, "pad_token");
  const unkTokenId = idOfSet(settings.unkToken, "unk_token");

  let vocabSize = 0;
  for (const id of lib.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  for (const id of generation.eosTokenIds) {
    if (id >= vocabSize) {
      throw new Error(`${names.generation}: eos_token_id ${id} is outside the vocabulary (${vocabSize} tokens)`);
    }
  }
  const eosTokenIds = [...new Set([...(eosTokenId === null ? [] : [eosTokenId]), ...generation.eosTokenIds])];
  const padTokenId = configPadTokenId ?? generation.padTokenId ?? eosTokenIds[0] ?? null;

  const specialIds = new Set<number>();
  for (const [id, token] of lib.get_added_tokens_decoder()) if (token.special) specialIds.add(id);
  for (const id of [bosTokenId, eosTokenId, configPadTokenId, unkTokenId]) if (id !== null) specialIds.add(id);
  settings.additionalSpecialTokens.forEach((token, i) => {
    specialIds.add(idOf(token, `additional_special_tokens[${i}]`));
  });

  const framing = findFraming(lib, settings, bosTokenId, eosTokenId, names.tokenizer);

  const isDropped = (id: number, skipSpecialTokens: boolean): boolean =>
    lib.id_to_token(id) === undefined || (skipSpecialTokens && specialIds.has(id));
  const decodeRaw = (ids: readonly number[]): string =>
    ids.length === 0 ? "" : lib.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const encodeText = (text: string): number[] => lib.encode(text, { add_special_tokens: false }).ids;

  const specialTokenText: Record<string, string | string[]> = {
    additional_special_tokens: settings.additionalSpecialTokens,
  };
  for (const [name, token] of [
    ["bos_token", settings.bosToken],
    ["eos_token", settings.eosToken],
    ["pad_token", settings.padToken],
    ["unk_token", settings.unkToken],
  ] as const) {
    // transformers passes only the tokens that are set; an unset one is undefined in the template.
    if (token !== null) specialTokenText[name] = token;
  }
  const chatTemplate = settings.chatTemplates.default ?? null;
  let parsedDefault: Template | null = null;

  const tokenizer: OarTokenizer = {
    vocabSize,
    bosTokenId,
    eosTokenIds,
    padTokenId,
    chatTemplate,
    chatTemplates: settings.chatTemplates,

    tokenToId: (token) => lib.token_to_id(token) ?? null,
    idToToken: (id) => lib.id_to_token(id) ?? null,

    encode(text, options = {}) {
      const ids = encodeText(text);
      return (options.addSpecialTokens ?? true) ? [...framing.prefix, ...ids, ...framing.suffix] : ids;
    },

    decode(ids, options = {}) {
      const skip = options.skipSpecialTokens ?? true;
      ids.forEach((id, i) => checkTokenId(id, `decode: ids[${i}]`));
      const text = decodeRaw(ids.filter((id) => !isDropped(id, skip)));
      return settings.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
    },

    encodeBatch(texts, options = {}) {
      const add = options.addSpecialTokens ?? true;
      return packBatch(
        texts.map((text) => encodeText(text)),
        {
          prefix: add ? framing.prefix : [],
          suffix: add ? framing.suffix : [],
          padTokenId,
          ...(options.srcLength === undefined ? {} : { srcLength: options.srcLength }),
        },
      );
    },

    streamDecoder(options = {}) {
      const skip = options.skipSpecialTokens ?? true;
      return createStreamDecoder({
        decodeRaw,
        isDropped: (id) => {
          checkTokenId(id, "streamDecoder.push");
          return isDropped(id, skip);
        },
        cleanUp: settings.cleanUpTokenizationSpaces,
      });
    },

    applyChatTemplate(messages, options = {}) {
      let template: Template;
      let source: string;
      if (options.template !== undefined) {
        source = "options.template";
        template = parseChatTemplate(options.template, source);
      } else {
        source = `${names.config} chat_template`;
        if (chatTemplate === null) {
          const named = Object.keys(settings.chatTemplates);
          throw new Error(
            named.length === 0
              ? `${names.config} has no chat_template; pass the template text as options.template`
              : `${names.config} has chat templates named ${named.join(", ")} but none named "default"; pass one as options.template`,
          );
        }
        parsedDefault ??= parseChatTemplate(chatTemplate, source);
        template = parsedDefault;
      }
      return renderChatTemplate(template, messages, {
        addGenerationPrompt: options.addGenerationPrompt ?? true,
        specialTokens: specialTokenText,
        variables: options.variables ?? {},
        source,
      });
    },

    encodeChat(messages, options = {}) {
      return tokenizer.encode(tokenizer.applyChatTemplate(messages, options), { addSpecialTokens: false });
    },
  };
  return tokenizer;
}
