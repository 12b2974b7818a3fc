/**
 * Incremental detokenisation for streaming: text comes out as soon as it is
 * final, and never half a character.
 *
 * Decoding token by token and joining the pieces is wrong twice over:
 * byte-level BPE splits one Chinese character or emoji across tokens (each
 * piece alone decodes to U+FFFD), and SentencePiece decoders drop the
 * leading space of whatever token comes first (so "▁world" alone is
 * "world"). The method of text-generation-inference's `decode_token` solves
 * both: keep two offsets into the ids, decode the window from `prefix`
 * twice, once up to `read` (text already emitted) and once to the end, and
 * emit the difference. The token at `prefix` was emitted in an earlier window,
 * so its own space, dropped or not, is never part of the difference. While
 * the window ends in U+FFFD the last character is incomplete: emit nothing
 * and wait for more bytes.
 */
import { cleanUpTokenization, safeCleanUpCut } from "./cleanup.js";

/**
 * What @oar/generation consumes: push each generated id, print what comes
 * back. Joining every push and the final flush gives exactly
 * `decode(allIds)` with the same options.
 */
export interface StreamDecoder {
  /** Adds one token; returns the text it completed ("" while a character is incomplete). */
  push(tokenId: number): string;
  /** Returns all text still held back (an incomplete character decodes as U+FFFD) and resets. */
  flush(): string;
}

/** What a stream decoder needs from a tokenizer. */
export interface StreamDecoderParts {
  /** Decodes ids that are all kept, without cleanup. */
  decodeRaw(ids: readonly number[]): string;
  /** Whether an id is dropped from the text (a skipped special token, an id with no token). */
  isDropped(tokenId: number): boolean;
  /** Whether transformers' `clean_up_tokenization` applies to the text. */
  cleanUp: boolean;
}

const REPLACEMENT_CHARACTER = "\uFFFD";

export function createStreamDecoder(parts: StreamDecoderParts): StreamDecoder {
  const { decodeRaw, isDropped, cleanUp } = parts;
  let ids: number[] = [];
  let prefixOffset = 0;
  let readOffset = 0;
  // Raw text not yet emitted because cleanup could still change it.
  let held = "";

  function emit(raw: string): string {
    if (!cleanUp) return raw;
    held += raw;
    const cut = safeCleanUpCut(held);
    if (cut === 0) return "";
    const out = cleanUpTokenization(held.slice(0, cut));
    held = held.slice(cut);
    return out;
  }

  function pending(): { text: string; complete: boolean } {
    const prefixText = decodeRaw(ids.slice(prefixOffset, readOffset));
    const newText = decodeRaw(ids.slice(prefixOffset));
    const complete = newText.length > prefixText.length && !newText.endsWith(REPLACEMENT_CHARACTER);
    return { text: newText.slice(prefixText.length), complete };
  }

  return {
    push(tokenId: number): string {
      if (isDropped(tokenId)) return "";
      ids.push(tokenId);
      const { text, complete } = pending();
      if (!complete) return "";
      prefixOffset = readOffset;
      readOffset = ids.length;
      // The window only needs the tokens from prefixOffset on.
      if (prefixOffset > 0) {
        ids = ids.slice(prefixOffset);
        readOffset -= prefixOffset;
        prefixOffset = 0;
      }
      return emit(text);
    },

    flush(): string {
      const rest = readOffset < ids.length ? pending().text : "";
      const out = cleanUp ? cleanUpTokenization(held + rest) : rest;
      ids = [];
      prefixOffset = 0;
      readOffset = 0;
      held = "";
      return out;
    },
  };
}
