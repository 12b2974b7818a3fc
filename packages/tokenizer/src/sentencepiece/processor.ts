/**
 * A sentencepiece model ready to encode and decode, as the `sentencepiece`
 * library's SentencePieceProcessor does it:
 *
 * - encode: normalize, split with the model (BPE or unigram), then spell a
 *   piece the model does not know as byte pieces (byte fallback) or, without
 *   byte fallback, as ONE unknown id per run of unknown characters.
 * - decode: "▁" becomes a space; the first piece's leading "▁" is dropped
 *   when the normalizer adds a dummy prefix (or strips whitespace); control
 *   pieces print nothing and <unk> prints " ⁇ "; runs of byte pieces are
 *   decoded as UTF-8, one U+FFFD per byte that is not part of a character.
 */
import { encodeBpe, type EncodedPiece } from "./bpe.js";
import { byteOfPiece, type Piece, type PieceType, type SentencePieceModel } from "./model.js";
import { normalize } from "./normalizer.js";
import { createUnigramEncoder } from "./unigram.js";
import { decodeBytesLikeSentencePiece, toByteString } from "./utf8.js";
import { buildVocab } from "./vocab.js";

export interface SentencePieceProcessor {
  /** Number of pieces; ids are 0 .. size-1. */
  readonly size: number;
  readonly unkId: number;
  /** The ids of a text (no BOS/EOS: the model adds none itself). */
  encode(text: string): number[];
  /**
   * The text of ids (each below `size`). `surface(id)` may give the text of
   * an id instead of the model's rule (a caller's added tokens above the
   * model's ids, or a control piece it wants to show); it counts as text.
   */
  decode(ids: readonly number[], surface?: (id: number) => string | null): string;
  /** The id of a piece's text; null when the model has no such piece. */
  pieceToId(piece: string): number | null;
  idToPiece(id: number): string;
  typeOf(id: number): PieceType;
}

export interface ProcessorOptions {
  /**
   * Overrides the model's add_dummy_prefix, for encoding and for the space
   * decoding drops (transformers' LlamaTokenizer with `legacy: false` turns
   * it off and adds its own "▁" instead).
   */
  addDummyPrefix?: boolean;
}

const SPACE = "\u2581";

export function createSentencePieceProcessor(model: SentencePieceModel, options: ProcessorOptions = {}): SentencePieceProcessor {
  const vocab = buildVocab(model);
  const spec = { ...model.normalizer, addDummyPrefix: options.addDummyPrefix ?? model.normalizer.addDummyPrefix };
  const split: (normalized: string) => EncodedPiece[] =
    model.modelType === "bpe" ? (n) => encodeBpe(n, vocab) : createUnigramEncoder(vocab).encode;
  const pieces = model.pieces;
  const byteIds = new Int32Array(256).fill(-1);
  const textToId = new Map<string, number>();
  pieces.forEach((p, id) => {
    textToId.set(p.text, id);
    if (p.type === "byte") byteIds[byteOfPiece(p.text)] = id;
  });
  const userDefined = vocab.hasUserDefined ? vocab.userDefined : null;
  // Decoding drops the first piece's "▁" when the normalizer put it there.
  const stripsLeadingSpace = spec.addDummyPrefix || spec.removeExtraWhitespaces;
  const pieceAt = (id: number): Piece => {
    const p = pieces[id];
    if (p === undefined) throw new Error(`sentencepiece: id ${id} is outside the model's ${pieces.length} pieces`);
    return p;
  };

  return {
    size: pieces.length,
    unkId: vocab.unkId,

    encode(text) {
      const normalized = normalize(toByteString(text), spec, userDefined);
      const ids: number[] = [];
      let prevUnknown = false;
      for (const p of split(normalized)) {
        const unknown = p.id === vocab.unkId;
        if (unknown && model.byteFallback) {
          for (let i = p.start; i < p.end; i++) ids.push(byteIds[normalized.charCodeAt(i)] as number);
        } else if (!(unknown && prevUnknown)) {
          ids.push(p.id);
        }
        prevUnknown = unknown;
      }
      return ids;
    },

    decode(ids, surface) {
      let text = "";
      let bytes = "";
      let atStart = true; // still expecting the dummy-prefix space
      let startSpaceSeen = false;
      for (const id of ids) {
        const given = surface?.(id) ?? null;
        const piece = given === null ? pieceAt(id) : null;
        if (piece?.type === "byte") {
          bytes += String.fromCharCode(byteOfPiece(piece.text));
          continue;
        }
        if (bytes.length > 0) {
          text += decodeBytesLikeSentencePiece(bytes);
          bytes = "";
        }
        if (startSpaceSeen || text.length > 0) atStart = false;
        startSpaceSeen = false;
        if (piece === null) {
          text += given as string;
        } else if (piece.type === "control") {
          // invisible
        } else if (piece.type === "unknown") {
          text += model.unkSurface;
        } else {
          let t = piece.text;
          if (atStart && stripsLeadingSpace && t.startsWith(SPACE)) {
            t = t.slice(1);
            // With remove_extra_whitespaces every leading space goes, so keep looking.
            startSpaceSeen = !model.normalizer.removeExtraWhitespaces;
          }
          text += t.replaceAll(SPACE, " ");
        }
      }
      if (bytes.length > 0) text += decodeBytesLikeSentencePiece(bytes);
      return text;
    },

    pieceToId: (piece) => textToId.get(piece) ?? null,
    idToPiece: (id) => pieceAt(id).text,
    typeOf: (id) => pieceAt(id).type,
  };
}
