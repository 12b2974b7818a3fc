/**
 * A tiktoken rank file as GLM-4's remote tokenizer (ChatGLM4Tokenizer) uses
 * it: the special tokens come from tokenizer_config.json's
 * `added_tokens_decoder` (ids after the ranks), are cut out of the text
 * first, and each remaining stretch is encoded by tiktoken on its own.
 * Tokens are spelled in GPT-2's byte-level characters by `idToToken`, as a
 * byte-level tokenizer.json spells them.
 */
import { createAddedTokenSplitter, type AddedToken } from "./added-tokens.js";
import { byteLevelSpelling, fromByteLevelSpelling } from "./byte-level.js";
import type { Framing, TokenizerCore } from "./core.js";
import type { TiktokenEncoder } from "./tiktoken/encoder.js";
import type { RankTable } from "./tiktoken/rank-file.js";

export interface TiktokenCoreOptions {
  table: RankTable;
  encoder: TiktokenEncoder;
  addedTokens: readonly AddedToken[];
  framing: Framing;
}

export function createTiktokenCore(options: TiktokenCoreOptions): TokenizerCore {
  const { table, encoder, addedTokens, framing } = options;
  const byContent = new Map(addedTokens.map((t) => [t.content, t]));
  const byId = new Map(addedTokens.map((t) => [t.id, t]));
  const splitter = createAddedTokenSplitter(addedTokens);
  let vocabSize = table.tokens.length;
  for (const t of addedTokens) vocabSize = Math.max(vocabSize, t.id + 1);

  return {
    vocabSize,
    tokenToId(token) {
      const added = byContent.get(token);
      if (added !== undefined) return added.id;
      const bytes = fromByteLevelSpelling(token);
      return bytes === null ? null : (table.ranks.get(bytes) ?? null);
    },
    idToToken(id) {
      const added = byId.get(id);
      if (added !== undefined) return added.content;
      const bytes = table.tokens[id];
      return bytes === undefined ? null : byteLevelSpelling(bytes);
    },
    encodeText(text) {
      const ids: number[] = [];
      for (const segment of splitter.split(text)) {
        if (typeof segment !== "string") ids.push(segment.id);
        else ids.push(...encoder.encode(segment));
      }
      return ids;
    },
    decodeRaw(ids) {
      let text = "";
      let run: number[] = [];
      for (const id of ids) {
        const added = byId.get(id);
        if (added === undefined) {
          run.push(id);
          continue;
        }
        text += encoder.decode(run) + added.content;
        run = [];
      }
      return text + encoder.decode(run);
    },
    specialIds: new Set(addedTokens.filter((t) => t.special).map((t) => t.id)),
    framing,
  };
}
