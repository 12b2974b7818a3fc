/**
 * Batching prompts for a decoder: truncate from the left, pad on the left.
 *
 * A decoder generates after the last position of every row, so the real
 * tokens of each row must end at the same column: padding goes in front.
 * Truncation keeps the end of a prompt (the question, the generation
 * prompt of a chat template) and drops its oldest tokens; the special
 * tokens a tokenizer adds around the text (a BOS) are kept, as transformers
 * does with `truncation_side="left"`.
 */

/** A prompt that was cut to fit `srcLength`. */
export interface Truncation {
  /** Position of the prompt in the batch. */
  index: number;
  /** Its length in tokens before truncation, special tokens included. */
  originalLength: number;
  /** How many of its first text tokens were dropped. */
  removed: number;
}

export interface BatchEncoding {
  /** Token ids, left-padded with the pad id. */
  inputIds: number[][]; // [batch, length]
  /** 1 on a real token, 0 on padding. */
  attentionMask: number[][]; // [batch, length]
  /** The prompts that were truncated, in batch order; empty when none was. */
  truncations: Truncation[];
}

export interface PackOptions {
  /** Special ids added before every text (e.g. BOS); kept by truncation. */
  prefix: readonly number[];
  /** Special ids added after every text (e.g. EOS); kept by truncation. */
  suffix: readonly number[];
  /** Padding id; null when the tokenizer has none (then rows must be of equal length). */
  padTokenId: number | null;
  /** Longest row allowed, special tokens included; absent means no truncation. */
  srcLength?: number;
}

/** Frames, truncates and left-pads the text ids of each prompt. */
export function packBatch(texts: readonly (readonly number[])[], options: PackOptions): BatchEncoding {
  const { prefix, suffix, padTokenId, srcLength } = options;
  const framing = prefix.length + suffix.length;
  if (srcLength !== undefined && !(Number.isInteger(srcLength) && srcLength > framing)) {
    throw new Error(
      `srcLength must be a whole number above ${framing} (the special tokens added to every prompt); found ${srcLength}`,
    );
  }
  const truncations: Truncation[] = [];
  const rows = texts.map((ids, index) => {
    const originalLength = framing + ids.length;
    if (originalLength === 0) {
      throw new Error(`prompt ${index} encodes to no tokens; a decoder needs at least one`);
    }
    if (srcLength === undefined || originalLength <= srcLength) return [...prefix, ...ids, ...suffix];
    const removed = originalLength - srcLength;
    truncations.push({ index, originalLength, removed });
    return [...prefix, ...ids.slice(removed), ...suffix];
  });
  return padLeft(rows, truncations, padTokenId);
}

/** Left-pads finished rows (special tokens included, already truncated) into one batch. */
export function padLeft(
  rows: readonly (readonly number[])[],
  truncations: Truncation[],
  padTokenId: number | null,
): BatchEncoding {
  const width = Math.max(0, ...rows.map((row) => row.length));
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  rows.forEach((row, index) => {
    const padding = width - row.length;
    if (padding > 0 && padTokenId === null) {
      throw new Error(
        `prompt ${index} needs ${padding} padding tokens but the tokenizer has no pad token (set pad_token or eos_token in tokenizer_config.json)`,
      );
    }
    inputIds.push([...new Array<number>(padding).fill(padTokenId ?? 0), ...row]);
    attentionMask.push([...new Array<number>(padding).fill(0), ...new Array<number>(row.length).fill(1)]);
  });
  return { inputIds, attentionMask, truncations };
}
