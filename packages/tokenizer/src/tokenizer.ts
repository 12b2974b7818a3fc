/**
 * The tokenizer of a checkpoint: a core for its format (formats.ts), with
 * the special tokens, defaults and chat templates of tokenizer_config.json,
 * the stop ids of generation_config.json, and the chat format of its family.
 * Everything above the core is written once, here, for every format.
 */
import type { Template } from "@huggingface/jinja";
import { baichuanBuilder } from "./baichuan-chat.js";
import { packBatch, padLeft, type BatchEncoding, type Truncation } from "./batch.js";
import type { ChatBuilder, ChatBuildParts, ChatFormatName } from "./chat-format.js";
import { chatGlm2Builder, chatGlm3Builder, glm4Builder } from "./chatglm-chat.js";
import { parseChatTemplate, renderChatTemplate, type ChatMessage } from "./chat-template.js";
import { cleanUpTokenization } from "./cleanup.js";
import { describeValue, parseGenerationSettings, parseTokenizerSettings, type GenerationSettings } from "./config.js";
import { buildFormat, type BuiltInChat, type FileNames, type FormatParts, type TokenizerFiles, type TokenizerKind } from "./formats.js";
import { createStreamDecoder, type StreamDecoder } from "./stream-decoder.js";

export type { FileNames, TokenizerFiles, TokenizerKind } from "./formats.js";

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
  /**
   * Jinja template text to use instead of the tokenizer's own chat format
   * (e.g. read from a file the user named); it replaces a family's built-in
   * builder too.
   */
  template?: string;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3, or `tools`. */
  variables?: Record<string, unknown>;
}

export interface ChatBatchOptions extends ChatTemplateOptions {
  /**
   * Longest prompt in tokens. A longer conversation is cut the way its
   * format's own code cuts it: Baichuan drops whole old rounds, then cuts
   * from the left; ChatGLM keeps its `[gMASK]` `sop` and drops the oldest
   * tokens after them; a template's prompt drops its oldest tokens.
   */
  srcLength?: number;
}

export interface OarTokenizer {
  /** The files it was built from: tokenizer.json, a sentencepiece or tiktoken tokenizer.model, or GPT-2's vocab.json + merges.txt. */
  readonly kind: TokenizerKind;
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
  /** The default Jinja chat template of tokenizer_config.json; null when it has none. */
  readonly chatTemplate: string | null;
  /**
   * How `encodeChat` builds prompts: "template" (the Jinja chat template),
   * a family's own code ("chatglm2", "chatglm3", "glm4", "baichuan", which
   * win over a template in the config, as the remote code does), or null
   * when the tokenizer has no chat format.
   */
  readonly chatFormat: ChatFormatName | null;
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

  /**
   * The prompt of a conversation as text, special tokens spelled out. For a
   * template this is the prompt (encode it with addSpecialTokens false); for
   * a family's builder it is for people (logs, echoes): use `encodeChat`
   * for the ids, which are not always the encoding of this text.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatTemplateOptions): string;
  /** The prompt ids of a conversation, exactly as the model's chat format builds them. */
  encodeChat(messages: readonly ChatMessage[], options?: ChatTemplateOptions): number[];
  /** Prompt ids of conversations as one left-padded batch, each cut to `srcLength` as its format cuts it. */
  encodeChatBatch(conversations: readonly (readonly ChatMessage[])[], options?: ChatBatchOptions): BatchEncoding;
}

const DEFAULT_FILE_NAMES: FileNames = {
  tokenizer: "tokenizer.json",
  tokenizerModel: "tokenizer.model",
  vocab: "vocab.json",
  merges: "merges.txt",
  config: "tokenizer_config.json",
  generation: "generation_config.json",
};

/**
 * A tokenizer from files held in memory (tests, and packages that hold the
 * files): tokenizer.json, or tokenizer.model, or vocab.json + merges.txt,
 * with tokenizer_config.json and optionally generation_config.json.
 */
export function createTokenizer(files: TokenizerFiles): OarTokenizer {
  return buildTokenizer(files, DEFAULT_FILE_NAMES);
}

function checkTokenId(id: number, where: string): void {
  if (!(Number.isInteger(id) && id >= 0)) {
    throw new Error(`${where}: a token id must be a whole number >= 0; found ${describeValue(id)}`);
  }
}

function chatBuilderOf(chat: BuiltInChat | null, parts: ChatBuildParts, generation: GenerationSettings): ChatBuilder | null {
  switch (chat) {
    case null:
      return null;
    case "chatglm2":
      return chatGlm2Builder(parts);
    case "chatglm3":
      return chatGlm3Builder(parts);
    case "glm4":
      return glm4Builder(parts);
    case "baichuan":
      return baichuanBuilder(parts, {
        userTokenId: generation.userTokenId as number,
        assistantTokenId: generation.assistantTokenId as number,
      });
    default: {
      const never: never = chat;
      throw new Error(`unknown chat format ${String(never)}`);
    }
  }
}

/** `createTokenizer`, with the names errors give each file (loadTokenizer passes paths). */
export function buildTokenizer(files: TokenizerFiles, names: FileNames): OarTokenizer {
  const needsConfig = files.tokenizerJson !== undefined || files.tokenizerModel !== undefined;
  const baseSettings = parseTokenizerSettings(files.tokenizerConfig ?? (needsConfig ? undefined : {}), names.config);
  const generation =
    files.generationConfig === undefined
      ? { eosTokenIds: [], padTokenId: null, userTokenId: null, assistantTokenId: null }
      : parseGenerationSettings(files.generationConfig, names.generation);
  const format: FormatParts = buildFormat(files, names, baseSettings, generation);
  const { core, settings } = format;
  const vocabFile = { "tokenizer.json": names.tokenizer, sentencepiece: names.tokenizerModel, tiktoken: names.tokenizerModel, "gpt2-vocab": names.vocab }[format.kind];

  const idOf = (token: string, field: string): number => {
    const id = core.tokenToId(token);
    if (id === null) throw new Error(`${names.config}: ${field} ${JSON.stringify(token)} is not a token of ${vocabFile}`);
    return id;
  };
  const idOfSet = (token: string | null, field: string): number | null => (token === null ? null : idOf(token, field));
  const bosTokenId = idOfSet(settings.bosToken, "bos_token");
  const eosTokenId = idOfSet(settings.eosToken, "eos_token");
  const configPadTokenId = idOfSet(settings.padToken, "pad_token");
  const unkTokenId = idOfSet(settings.unkToken, "unk_token");

  const vocabSize = core.vocabSize;
  for (const [field, id] of [
    ...generation.eosTokenIds.map((id) => ["eos_token_id", id] as const),
    ["user_token_id", generation.userTokenId] as const,
    ["assistant_token_id", generation.assistantTokenId] as const,
  ]) {
    if (id !== null && id >= vocabSize) {
      throw new Error(`${names.generation}: ${field} ${id} is outside the vocabulary (${vocabSize} tokens)`);
    }
  }
  const eosTokenIds = [...new Set([...(eosTokenId === null ? [] : [eosTokenId]), ...generation.eosTokenIds])];
  const padTokenId = configPadTokenId ?? generation.padTokenId ?? eosTokenIds[0] ?? null;

  const specialIds = new Set<number>(core.specialIds);
  for (const id of [bosTokenId, eosTokenId, configPadTokenId, unkTokenId]) if (id !== null) specialIds.add(id);
  settings.additionalSpecialTokens.forEach((token, i) => {
    specialIds.add(idOf(token, `additional_special_tokens[${i}]`));
  });
  // Baichuan's role tokens mark turns; like ChatGLM's, they never belong in a reply's text.
  for (const id of [generation.userTokenId, generation.assistantTokenId]) if (id !== null && format.chat === "baichuan") specialIds.add(id);

  const framing = core.framing;
  const isDropped = (id: number, skipSpecialTokens: boolean): boolean =>
    core.idToToken(id) === null || (skipSpecialTokens && specialIds.has(id));
  const decodeRaw = (ids: readonly number[]): string => (ids.length === 0 ? "" : core.decodeRaw(ids));

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

  const encode = (text: string, addSpecialTokens: boolean): number[] => {
    const ids = core.encodeText(text);
    return addSpecialTokens ? [...framing.prefix, ...ids, ...framing.suffix] : ids;
  };
  const builder = chatBuilderOf(
    format.chat,
    {
      encodePlain: format.encodePlain ?? ((text) => core.encodeText(text)),
      encode: (text) => encode(text, true),
      idOf: (token) => idOf(token, "a chat format token"),
      textOf: (id) => core.idToToken(id) ?? "",
    },
    generation,
  );
  const chatFormat: ChatFormatName | null = builder !== null ? builder.format : chatTemplate !== null ? "template" : null;

  const renderTemplate = (messages: readonly ChatMessage[], options: ChatTemplateOptions): string => {
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
  };
  /** The builder that applies: a family's own, unless a template is given. */
  const builderFor = (options: ChatTemplateOptions): ChatBuilder | null => (options.template === undefined ? builder : null);

  const tokenizer: OarTokenizer = {
    kind: format.kind,
    vocabSize,
    bosTokenId,
    eosTokenIds,
    padTokenId,
    chatTemplate,
    chatFormat,
    chatTemplates: settings.chatTemplates,

    tokenToId: (token) => core.tokenToId(token),
    idToToken: (id) => core.idToToken(id),

    encode: (text, options = {}) => encode(text, options.addSpecialTokens ?? true),

    decode(ids, options = {}) {
      const skip = options.skipSpecialTokens ?? true;
      ids.forEach((id, i) => checkTokenId(id, `decode: ids[${i}]`));
      const text = decodeRaw(ids.filter((id) => !isDropped(id, skip)));
      return settings.cleanUpTokenizationSpaces ? cleanUpTokenization(text) : text;
    },

    encodeBatch(texts, options = {}) {
      const add = options.addSpecialTokens ?? true;
      return packBatch(
        texts.map((text) => core.encodeText(text)),
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
      const b = builderFor(options);
      return b === null ? renderTemplate(messages, options) : b.text(messages, options.addGenerationPrompt ?? true);
    },

    encodeChat(messages, options = {}) {
      const b = builderFor(options);
      if (b !== null) return b.ids(messages, options.addGenerationPrompt ?? true);
      return encode(renderTemplate(messages, options), false);
    },

    encodeChatBatch(conversations, options = {}) {
      const b = builderFor(options);
      const { srcLength } = options;
      if (b === null) {
        // A template's text holds its own special tokens: no framing, truncation from the left.
        return packBatch(
          conversations.map((messages) => encode(renderTemplate(messages, options), false)),
          { prefix: [], suffix: [], padTokenId, ...(srcLength === undefined ? {} : { srcLength }) },
        );
      }
      const add = options.addGenerationPrompt ?? true;
      const truncations: Truncation[] = [];
      const rows = conversations.map((messages, index) => {
        const full = b.ids(messages, add);
        if (full.length === 0) throw new Error(`prompt ${index} encodes to no tokens; a decoder needs at least one`);
        if (srcLength === undefined || full.length <= srcLength) return full;
        const cut = b.truncate(messages, add, srcLength);
        truncations.push({ index, originalLength: full.length, removed: full.length - cut.length });
        return cut;
      });
      return padLeft(rows, truncations, padTokenId);
    },
  };
  return tokenizer;
}
