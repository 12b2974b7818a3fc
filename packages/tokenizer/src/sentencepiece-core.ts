/**
 * A sentencepiece `tokenizer.model` as transformers' Python tokenizers
 * (LlamaTokenizer, BaichuanTokenizer, ChatGLMTokenizer) use it: added
 * tokens are cut out of the text first, each remaining stretch of text is
 * encoded by sentencepiece on its own, and a piece whose text is an added
 * token becomes that token's id (transformers converts pieces to ids through
 * its added-token table first).
 *
 * LlamaTokenizer with `legacy: false` (which many Llama-2-family configs
 * set) differs in one respect, which matters right after a special token:
 * the "▁" of the dummy prefix goes only at the very start of the text, so
 * "</s>world" gives "world", not "▁world". transformers does this with a
 * trick, reproduced exactly: encode with add_dummy_prefix off, and encode a
 * stretch that starts with a space behind the unk token's pieces, then drop them.
 */
import { createAddedTokenSplitter, type AddedToken } from "./added-tokens.js";
import type { Framing, TokenizerCore } from "./core.js";
import type { SentencePieceProcessor } from "./sentencepiece/processor.js";

const SPACE = "\u2581";

export interface NonLegacyOptions {
  /** The same model with add_dummy_prefix off. */
  processor: SentencePieceProcessor;
  /** The unk token's text ("<unk>"), encoded in front of stretches that start with a space. */
  unkToken: string;
  /** add_prefix_space (default true): a "▁" before the whole text. */
  addPrefixSpace: boolean;
  /** The texts of the special tokens (bos, eos, unk, pad, additional): a lone "▁" before one is dropped. */
  specialTokens: ReadonlySet<string>;
}

export interface SentencePieceCoreOptions {
  processor: SentencePieceProcessor;
  /** Tokens cut out of text before sentencepiece sees it (ids inside or above the model's). */
  addedTokens: readonly AddedToken[];
  /** Tokens after the model's pieces that text never produces except as a whole piece (ChatGLM's specials). */
  extraTokens: readonly AddedToken[];
  /** LlamaTokenizer with `legacy: false`; null for the legacy behaviour (and every other class). */
  nonLegacy: NonLegacyOptions | null;
  framing: Framing;
}

export function createSentencePieceCore(options: SentencePieceCoreOptions): TokenizerCore {
  const { processor: sp, addedTokens, extraTokens, nonLegacy, framing } = options;
  const all = [...extraTokens, ...addedTokens];
  const byContent = new Map<string, AddedToken>();
  const byId = new Map<number, AddedToken>();
  for (const t of all) {
    byContent.set(t.content, t);
    byId.set(t.id, t);
  }
  // transformers turns a piece into an id through its added tokens first.
  const remap = new Map<number, number>();
  for (const t of all) {
    const pieceId = sp.pieceToId(t.content);
    if (pieceId !== null && pieceId !== t.id && pieceId !== sp.unkId) remap.set(pieceId, t.id);
  }
  const splitter = createAddedTokenSplitter(addedTokens);
  const specialIds = new Set<number>();
  for (let id = 0; id < sp.size; id++) if (sp.typeOf(id) === "control") specialIds.add(id);
  for (const t of all) if (t.special) specialIds.add(t.id);
  let vocabSize = sp.size;
  for (const t of all) vocabSize = Math.max(vocabSize, t.id + 1);

  const unkLength = nonLegacy === null ? 0 : nonLegacy.processor.encode(nonLegacy.unkToken).length;
  const encodeStretch = (text: string): number[] => {
    if (nonLegacy === null) return sp.encode(text);
    if (!(text.startsWith(SPACE) || text.startsWith(" "))) return nonLegacy.processor.encode(text);
    const ids = nonLegacy.processor.encode(nonLegacy.unkToken + text);
    return ids.length >= unkLength ? ids.slice(unkLength) : ids;
  };
  const spaceId = sp.pieceToId(SPACE);

  return {
    vocabSize,
    tokenToId: (token) => byContent.get(token)?.id ?? sp.pieceToId(token),
    idToToken: (id) => byId.get(id)?.content ?? (id < sp.size ? sp.idToPiece(id) : null),

    encodeText(input) {
      let text = input;
      if (nonLegacy !== null && text.length > 0) {
        text = text.replaceAll(SPACE, " ");
        if (nonLegacy.addPrefixSpace) text = SPACE + text;
      }
      const segments = splitter.split(text);
      const ids: number[] = [];
      let firstCount = 0;
      segments.forEach((segment, i) => {
        const before = ids.length;
        if (typeof segment !== "string") ids.push(segment.id);
        else for (const id of encodeStretch(segment)) ids.push(remap.get(id) ?? id);
        if (i === 0) firstCount = ids.length - before;
      });
      // transformers drops the prefix "▁" when it is all that comes before a special token.
      const second = segments[1];
      if (
        nonLegacy !== null &&
        typeof segments[0] === "string" &&
        firstCount === 1 &&
        ids[0] === spaceId &&
        typeof second === "object" &&
        nonLegacy.specialTokens.has(second.content)
      ) {
        ids.shift();
      }
      return ids;
    },

    decodeRaw: (ids) =>
      sp.decode(ids, (id) => {
        if (id >= sp.size) return byId.get(id)?.content ?? "";
        // A control piece prints nothing in sentencepiece; kept on purpose, it prints its text.
        return sp.typeOf(id) === "control" ? sp.idToPiece(id) : null;
      }),

    specialIds,
    framing,
  };
}
