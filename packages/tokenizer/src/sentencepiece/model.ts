/**
 * Reading a sentencepiece `tokenizer.model`: a protobuf ModelProto, decoded
 * with protobufjs from a schema of the fields Oar reads (field numbers and
 * defaults as sentencepiece_model.proto declares them), then checked the
 * way sentencepiece checks a model when it loads one, so a bad file fails
 * here with its name rather than later with a wrong token.
 */
import { isUtf8 } from "node:buffer";
import protobuf from "protobufjs";
import { parseCharsmap, type Charsmap } from "./charsmap.js";

/** The kinds of piece a model holds (ModelProto.SentencePiece.Type). */
export type PieceType = "normal" | "unknown" | "control" | "user-defined" | "unused" | "byte";

const PIECE_TYPES: Record<number, PieceType> = {
  1: "normal",
  2: "unknown",
  3: "control",
  4: "user-defined",
  5: "unused",
  6: "byte",
};

export interface Piece {
  /** The piece as text ("▁the", "<0x0A>", "<s>"). */
  text: string;
  /** The piece's UTF-8 bytes as a byte string: one char per byte (what the encoders compare). */
  bytes: string;
  score: number;
  type: PieceType;
}

/** NormalizerSpec: what happens to text before it is split into pieces. */
export interface NormalizerSpec {
  /** The rule set it was built from ("nmt_nfkc", "identity", ...); informational. */
  name: string;
  /** The compiled rules (precompiled_charsmap); null when empty (no normalization). */
  charsmap: Charsmap | null;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

export interface SentencePieceModel {
  modelType: "unigram" | "bpe";
  pieces: Piece[];
  byteFallback: boolean;
  /** What decoding prints for the <unk> piece (" ⁇ " unless the model says otherwise). */
  unkSurface: string;
  normalizer: NormalizerSpec;
}

// The subset of sentencepiece_model.proto that Oar reads; unknown fields are skipped.
const root = protobuf.Root.fromJSON({
  nested: {
    ModelProto: {
      fields: {
        pieces: { rule: "repeated", type: "SentencePiece", id: 1 },
        trainerSpec: { type: "TrainerSpec", id: 2 },
        normalizerSpec: { type: "NormalizerSpec", id: 3 },
        denormalizerSpec: { type: "NormalizerSpec", id: 5 },
      },
      nested: {
        SentencePiece: {
          fields: {
            piece: { type: "bytes", id: 1 },
            score: { type: "float", id: 2 },
            type: { type: "int32", id: 3, options: { default: 1 } },
          },
        },
      },
    },
    TrainerSpec: {
      fields: {
        modelType: { type: "int32", id: 3, options: { default: 1 } },
        treatWhitespaceAsSuffix: { type: "bool", id: 24, options: { default: false } },
        byteFallback: { type: "bool", id: 35, options: { default: false } },
        unkSurface: { type: "string", id: 44, options: { default: " \u2047 " } },
      },
    },
    NormalizerSpec: {
      fields: {
        name: { type: "string", id: 1 },
        precompiledCharsmap: { type: "bytes", id: 2 },
        addDummyPrefix: { type: "bool", id: 3, options: { default: true } },
        removeExtraWhitespaces: { type: "bool", id: 4, options: { default: true } },
        escapeWhitespaces: { type: "bool", id: 5, options: { default: true } },
      },
    },
  },
});
const ModelProto = root.lookupType("ModelProto");

interface WirePiece {
  piece: Uint8Array;
  score: number;
  type: number;
}
interface WireNormalizer {
  name: string;
  precompiledCharsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}
interface WireModel {
  pieces: WirePiece[];
  // Absent sub-messages are null or undefined.
  trainerSpec?: { modelType: number; treatWhitespaceAsSuffix: boolean; byteFallback: boolean; unkSurface: string } | null;
  normalizerSpec?: WireNormalizer | null;
  denormalizerSpec?: WireNormalizer | null;
}

const MODEL_TYPES: Record<number, string> = { 1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR" };

/** The byte value of a byte piece's text ("<0x0A>" -> 10); -1 when the text is not of that form. */
export function byteOfPiece(text: string): number {
  const m = /^<0x([0-9A-F]{2})>$/.exec(text);
  return m === null ? -1 : parseInt(m[1] as string, 16);
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\s+/g, " ").trim();
}

/**
 * Decodes and checks a sentencepiece model; `file` names it in errors.
 * Supported: unigram and BPE models, byte fallback, user-defined, control
 * and unused pieces, any precompiled normalization. Rejected with a clear
 * error: WORD and CHAR models, treat_whitespace_as_suffix, a denormalizer.
 */
export function parseSentencePieceModel(bytes: Uint8Array, file: string): SentencePieceModel {
  let wire: WireModel;
  try {
    // Decoded messages read unset fields from their prototype, which holds the schema's defaults.
    wire = ModelProto.decode(bytes) as unknown as WireModel;
  } catch (error) {
    throw new Error(`${file}: not a sentencepiece model (its protobuf does not decode: ${oneLine(error)})`);
  }
  if (wire.pieces.length === 0) throw new Error(`${file}: not a sentencepiece model (it has no pieces)`);
  const trainer = wire.trainerSpec ?? { modelType: 1, treatWhitespaceAsSuffix: false, byteFallback: false, unkSurface: " \u2047 " };
  let modelType: SentencePieceModel["modelType"];
  if (trainer.modelType === 1) modelType = "unigram";
  else if (trainer.modelType === 2) modelType = "bpe";
  else {
    const name = MODEL_TYPES[trainer.modelType] ?? `number ${trainer.modelType}`;
    throw new Error(`${file}: model_type ${name} is not supported (only UNIGRAM and BPE models are)`);
  }
  if (trainer.treatWhitespaceAsSuffix) {
    throw new Error(`${file}: treat_whitespace_as_suffix is not supported`);
  }
  if ((wire.denormalizerSpec?.precompiledCharsmap?.length ?? 0) > 0) {
    throw new Error(`${file}: a denormalizer (denormalizer_spec with rules) is not supported`);
  }

  const seen = new Map<string, number>();
  let unknownCount = 0;
  const bytesFound = new Set<number>();
  const pieces = wire.pieces.map((p, i): Piece => {
    const type = PIECE_TYPES[p.type];
    if (type === undefined) throw new Error(`${file}: piece ${i} has type ${p.type}, which is not a sentencepiece piece type`);
    if (p.piece.length === 0) throw new Error(`${file}: piece ${i} is empty`);
    const raw = Buffer.from(p.piece.buffer, p.piece.byteOffset, p.piece.byteLength);
    if (!isUtf8(raw)) throw new Error(`${file}: piece ${i} is not valid UTF-8`);
    const text = raw.toString("utf8");
    const earlier = seen.get(text);
    if (earlier !== undefined) throw new Error(`${file}: pieces ${earlier} and ${i} are both ${JSON.stringify(text)}`);
    seen.set(text, i);
    if (type === "unknown") unknownCount++;
    if (type === "byte") {
      if (!trainer.byteFallback) throw new Error(`${file}: piece ${i} ${JSON.stringify(text)} is a byte piece but byte_fallback is false`);
      const b = byteOfPiece(text);
      if (b < 0) throw new Error(`${file}: byte piece ${i} is ${JSON.stringify(text)}; byte pieces are <0x00> to <0xFF>`);
      bytesFound.add(b);
    }
    return { text, bytes: raw.toString("latin1"), score: p.score, type };
  });
  if (unknownCount !== 1) throw new Error(`${file}: a model needs exactly one unknown piece (<unk>); found ${unknownCount}`);
  if (trainer.byteFallback && bytesFound.size !== 256) {
    throw new Error(`${file}: byte_fallback is true but only ${bytesFound.size} of the 256 byte pieces are present`);
  }

  const spec = wire.normalizerSpec;
  const normalizer: NormalizerSpec = {
    name: spec?.name ?? "",
    charsmap:
      spec === null || spec === undefined || spec.precompiledCharsmap.length === 0
        ? null
        : parseCharsmap(spec.precompiledCharsmap, `${file}: normalizer_spec.precompiled_charsmap`),
    addDummyPrefix: spec?.addDummyPrefix ?? true,
    removeExtraWhitespaces: spec?.removeExtraWhitespaces ?? true,
    escapeWhitespaces: spec?.escapeWhitespaces ?? true,
  };
  return { modelType, pieces, byteFallback: trainer.byteFallback, unkSurface: trainer.unkSurface, normalizer };
}
