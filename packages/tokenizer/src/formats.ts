/**
 * Which tokenizer a checkpoint's files describe, and its core.
 *
 * - tokenizer.json: always preferred when present (it carries everything).
 * - tokenizer.model: a sentencepiece model (Llama-2, Mistral, Mixtral,
 *   Baichuan, ChatGLM2/3) or, for GLM-4, a tiktoken rank file; which
 *   transformers class reads it (tokenizer_config.json's `tokenizer_class`)
 *   decides the special tokens, the framing and the chat format.
 * - vocab.json + merges.txt: GPT-2's byte-level BPE.
 */
import { parseAddedTokensDecoder, type AddedToken } from "./added-tokens.js";
import { isObject, optionalBoolean, type GenerationSettings, type TokenizerSettings } from "./config.js";
import type { Framing, TokenizerCore } from "./core.js";
import { gpt2TokenizerJson } from "./gpt2-files.js";
import { createHfCore } from "./hf-core.js";
import { createSentencePieceCore } from "./sentencepiece-core.js";
import { parseSentencePieceModel } from "./sentencepiece/model.js";
import { createSentencePieceProcessor, type SentencePieceProcessor } from "./sentencepiece/processor.js";
import { createTiktokenCore } from "./tiktoken-core.js";
import { createTiktokenEncoder, GLM4_PATTERN } from "./tiktoken/encoder.js";
import { looksLikeRankFile, parseRankFile } from "./tiktoken/rank-file.js";
import { classNamesOf, tokenizerClassOf, withClassDefaults, type TokenizerClass } from "./tokenizer-classes.js";

/** Which files a tokenizer was built from. */
export type TokenizerKind = "tokenizer.json" | "sentencepiece" | "tiktoken" | "gpt2-vocab";

/** A family's own chat prompt builder (see chat-format.ts). */
export type BuiltInChat = "chatglm2" | "chatglm3" | "glm4" | "baichuan";

/** The files of a tokenizer, parsed or as bytes; which are present decides the format. */
export interface TokenizerFiles {
  /** tokenizer.json, parsed. */
  tokenizerJson?: unknown;
  /** tokenizer.model's bytes: a sentencepiece model, or GLM-4's tiktoken rank file. */
  tokenizerModel?: Uint8Array;
  /** vocab.json, parsed (GPT-2, with merges.txt). */
  vocabJson?: unknown;
  /** merges.txt's text (GPT-2, with vocab.json). */
  mergesTxt?: string;
  /** tokenizer_config.json, parsed; optional only for vocab.json + merges.txt. */
  tokenizerConfig?: unknown;
  /** generation_config.json, parsed, when the checkpoint has one. */
  generationConfig?: unknown;
  /**
   * The text of a remote tokenizer (ChatGLM's tokenization_chatglm.py),
   * read, never run: it tells ChatGLM3 (role tokens) from ChatGLM2.
   */
  remoteTokenizerCode?: string;
}

/** How errors name each file. */
export interface FileNames {
  tokenizer: string;
  tokenizerModel: string;
  vocab: string;
  merges: string;
  config: string;
  generation: string;
}

export interface FormatParts {
  kind: TokenizerKind;
  core: TokenizerCore;
  /** tokenizer_config.json's settings with the class's defaults filled in. */
  settings: TokenizerSettings;
  /** The model's own encoding of a fragment (no added tokens, no framing); null for tokenizer.json. */
  encodePlain: ((text: string) => number[]) | null;
  /** The family's own chat builder; null when chat goes through a template (or there is none). */
  chat: BuiltInChat | null;
}

/** ChatGLM2's specials after its sentencepiece pieces; ChatGLM3 adds the four role tokens. */
const CHATGLM2_EXTRA = ["[MASK]", "[gMASK]", "[sMASK]", "sop", "eop"];
const CHATGLM3_EXTRA = [...CHATGLM2_EXTRA, "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"];

function namedSpecials(settings: TokenizerSettings): string[] {
  return [settings.bosToken, settings.eosToken, settings.unkToken, settings.padToken, ...settings.additionalSpecialTokens].filter(
    (t): t is string => t !== null,
  );
}

/**
 * The added tokens a Python tokenizer cuts out of text: tokenizer_config.json's
 * added_tokens_decoder, then each named special token not listed there, with
 * its id in the vocabulary (one that has none is left out here and reported
 * by tokenizer.ts, which checks every named token).
 */
function addedTokensOf(config: unknown, settings: TokenizerSettings, file: string, idOf: (token: string) => number | null): AddedToken[] {
  const tokens = parseAddedTokensDecoder(config, file);
  const listed = new Set(tokens.map((t) => t.content));
  for (const content of namedSpecials(settings)) {
    if (listed.has(content)) continue;
    const id = idOf(content);
    if (id === null) continue;
    tokens.push({ content, id, special: true, lstrip: false, rstrip: false, singleWord: false });
    listed.add(content);
  }
  return tokens;
}

/** The config as an object (config.ts has already rejected one that is not). */
function configObject(config: unknown): Record<string, unknown> {
  return isObject(config) ? config : {};
}

function requireClass(config: unknown, names: FileNames, allowed: readonly TokenizerClass[], what: string): TokenizerClass {
  const { name, cls } = tokenizerClassOf(config);
  if (name === null) return allowed[0] as TokenizerClass;
  if (cls === undefined || !allowed.includes(cls)) {
    throw new Error(
      `${names.config}: tokenizer_class ${JSON.stringify(name)} cannot be read from ${what} without a tokenizer.json (supported: ${classNamesOf(allowed).join(", ")})`,
    );
  }
  return cls;
}

function sentencePieceFormat(files: TokenizerFiles, names: FileNames, base: TokenizerSettings, generation: GenerationSettings): FormatParts {
  const config = configObject(files.tokenizerConfig);
  const cls = requireClass(files.tokenizerConfig, names, ["llama", "baichuan", "chatglm"], "a sentencepiece tokenizer.model");
  const model = parseSentencePieceModel(files.tokenizerModel as Uint8Array, names.tokenizerModel);
  const sp = createSentencePieceProcessor(model);
  const settings = withClassDefaults(base, config, cls);

  let extra: AddedToken[] = [];
  let chat: BuiltInChat | null = null;
  if (cls === "chatglm") {
    const glm3 = isChatGlm3(files, config, sp, generation, names);
    extra = (glm3 ? CHATGLM3_EXTRA : CHATGLM2_EXTRA).map((content, i) => ({
      content,
      id: sp.size + i,
      special: true,
      lstrip: false,
      rstrip: false,
      singleWord: false,
    }));
    chat = glm3 ? "chatglm3" : "chatglm2";
  } else if (cls === "baichuan" && generation.userTokenId !== null && generation.assistantTokenId !== null) {
    chat = "baichuan";
  }
  const extraByContent = new Map(extra.map((t) => [t.content, t.id]));
  const idOf = (token: string) => extraByContent.get(token) ?? sp.pieceToId(token);
  let added = addedTokensOf(config, settings, names.config, idOf);
  // ChatGLM3's encode_special_tokens makes its specials count when written in text.
  if (cls === "chatglm" && optionalBoolean(config, "encode_special_tokens", names.config) === true) added = [...added, ...extra];

  let framing: Framing;
  if (cls === "chatglm") {
    framing = { prefix: [idOf("[gMASK]") as number, idOf("sop") as number], suffix: [] };
  } else {
    const bos = settings.bosToken === null ? null : idOf(settings.bosToken);
    const eos = settings.eosToken === null ? null : idOf(settings.eosToken);
    framing = {
      prefix: settings.addBosToken && bos !== null ? [bos] : [],
      suffix: settings.addEosToken && eos !== null ? [eos] : [],
    };
  }

  // Only transformers' LlamaTokenizer knows `legacy`; absent means true (with a warning, in Python).
  const legacy = cls !== "llama" || (optionalBoolean(config, "legacy", names.config) ?? true);
  const addPrefixSpace = optionalBoolean(config, "add_prefix_space", names.config) ?? true;
  const core = createSentencePieceCore({
    // Without legacy, the "▁" decoding drops is the one the tokenizer adds (add_prefix_space).
    processor: legacy ? sp : createSentencePieceProcessor(model, { addDummyPrefix: addPrefixSpace }),
    addedTokens: added,
    extraTokens: extra,
    nonLegacy: legacy
      ? null
      : {
          processor: createSentencePieceProcessor(model, { addDummyPrefix: false }),
          unkToken: settings.unkToken ?? "<unk>",
          addPrefixSpace,
          specialTokens: new Set(namedSpecials(settings)),
        },
    framing,
  });
  return { kind: "sentencepiece", core, settings, encodePlain: (text) => sp.encode(text), chat };
}

/** ChatGLM3 has role tokens; ChatGLM2 (same class name) does not. */
function isChatGlm3(
  files: TokenizerFiles,
  config: Record<string, unknown>,
  sp: SentencePieceProcessor,
  generation: GenerationSettings,
  names: FileNames,
): boolean {
  if (parseAddedTokensDecoder(config, names.config).some((t) => t.content === "<|user|>")) return true;
  if (files.remoteTokenizerCode !== undefined) return files.remoteTokenizerCode.includes("<|observation|>");
  // ChatGLM3's generation_config stops at <|user|> and <|observation|>, which only it has.
  const userId = sp.size + CHATGLM3_EXTRA.indexOf("<|user|>");
  return generation.eosTokenIds.includes(userId);
}

function tiktokenFormat(files: TokenizerFiles, names: FileNames, base: TokenizerSettings): FormatParts {
  const config = configObject(files.tokenizerConfig);
  requireClass(files.tokenizerConfig, names, ["chatglm4"], "a tiktoken tokenizer.model");
  const table = parseRankFile(files.tokenizerModel as Uint8Array, names.tokenizerModel);
  const encoder = createTiktokenEncoder(table, GLM4_PATTERN);
  const settings = withClassDefaults(base, config, "chatglm4");
  const byContent = new Map(parseAddedTokensDecoder(config, names.config).map((t) => [t.content, t.id]));
  const added = addedTokensOf(config, settings, names.config, (token) => byContent.get(token) ?? null);
  const idOf = (token: string): number => {
    const id = byContent.get(token);
    if (id === undefined) throw new Error(`${names.config}: GLM-4's tokenizer needs ${token} in added_tokens_decoder`);
    return id;
  };
  const core = createTiktokenCore({ table, encoder, addedTokens: added, framing: { prefix: [idOf("[gMASK]"), idOf("<sop>")], suffix: [] } });
  return { kind: "tiktoken", core, settings, encodePlain: (text) => encoder.encode(text), chat: "glm4" };
}

function gpt2Format(files: TokenizerFiles, names: FileNames, base: TokenizerSettings): FormatParts {
  const config = configObject(files.tokenizerConfig);
  requireClass(files.tokenizerConfig, names, ["gpt2"], "vocab.json and merges.txt");
  const settings = withClassDefaults(base, config, "gpt2");
  const vocab = isObject(files.vocabJson) ? files.vocabJson : {};
  const idOf = (token: string): number | null => {
    const id = vocab[token];
    return typeof id === "number" ? id : null;
  };
  const tokenizerJson = gpt2TokenizerJson(
    {
      vocab: files.vocabJson,
      merges: files.mergesTxt as string,
      addedTokens: addedTokensOf(config, settings, names.config, idOf),
      addPrefixSpace: optionalBoolean(config, "add_prefix_space", names.config) ?? false,
    },
    names,
  );
  const core = createHfCore(tokenizerJson, config, settings, names.vocab);
  return { kind: "gpt2-vocab", core, settings, encodePlain: null, chat: null };
}

/** Picks the format from the files present and builds its core. */
export function buildFormat(files: TokenizerFiles, names: FileNames, settings: TokenizerSettings, generation: GenerationSettings): FormatParts {
  if (files.tokenizerJson !== undefined) {
    return {
      kind: "tokenizer.json",
      core: createHfCore(files.tokenizerJson, files.tokenizerConfig, settings, names.tokenizer),
      settings,
      encodePlain: null,
      chat: null,
    };
  }
  if (files.tokenizerModel !== undefined) {
    const { cls } = tokenizerClassOf(files.tokenizerConfig);
    if (cls === "chatglm4" || (cls === undefined && looksLikeRankFile(files.tokenizerModel))) return tiktokenFormat(files, names, settings);
    return sentencePieceFormat(files, names, settings, generation);
  }
  if (files.vocabJson !== undefined && files.mergesTxt !== undefined) return gpt2Format(files, names, settings);
  throw new Error(
    `${names.tokenizer}: file not found; a tokenizer directory needs tokenizer.json, or tokenizer.model, or vocab.json with merges.txt (and tokenizer_config.json)`,
  );
}
