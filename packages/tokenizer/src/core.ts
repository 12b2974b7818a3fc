/**
 * What a tokenizer format provides. Each format (tokenizer.json, a
 * sentencepiece or tiktoken `tokenizer.model`, GPT-2's vocab.json +
 * merges.txt) builds one of these; tokenizer.ts builds the OarTokenizer
 * around it (special tokens and EOS ids from the config files, decoding
 * options, batches, streaming, chat prompts), so every format behaves the
 * same above this line.
 */

/** The special ids a tokenizer adds before and after a text. */
export interface Framing {
  prefix: readonly number[];
  suffix: readonly number[];
}

export interface TokenizerCore {
  /** One more than the largest token id. */
  readonly vocabSize: number;
  /** The id of a token's text; null when the vocabulary has none. */
  tokenToId(token: string): number | null;
  /** The text of a token as the vocabulary spells it; null for an id with no token. */
  idToToken(id: number): string | null;
  /** Ids of a text, no framing; added tokens written in the text become their ids. */
  encodeText(text: string): number[];
  /** Text of ids that all have tokens; special tokens print as their text. */
  decodeRaw(ids: readonly number[]): string;
  /** Ids the format itself calls special (decode skips them on request), beyond the tokens the config names. */
  readonly specialIds: ReadonlySet<number>;
  /** What `encode` adds around a text when asked for special tokens. */
  readonly framing: Framing;
}
