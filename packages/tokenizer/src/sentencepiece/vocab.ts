/**
 * The piece tables both sentencepiece models search, built as its
 * ModelInterface::InitializePieces builds them: normal, user-defined and
 * unused pieces are "pieces" the encoders may produce; control, unknown and
 * byte pieces are "reserved" and only ever reached by id.
 */
import type { Piece, SentencePieceModel } from "./model.js";
import { createPrefixMatcher, type PrefixMatcher } from "./prefix-matcher.js";

export interface Vocab {
  readonly pieces: readonly Piece[];
  /** Byte string -> id of the normal, user-defined and unused pieces. */
  readonly encodable: ReadonlyMap<string, number>;
  /** Byte string -> id of the control, unknown and byte pieces. */
  readonly reserved: ReadonlyMap<string, number>;
  readonly unkId: number;
  /** The user-defined symbols, which are never split or merged. */
  readonly userDefined: PrefixMatcher;
  readonly hasUserDefined: boolean;
  /** sentencepiece's PieceToId: reserved first, then the rest, else the unknown id. */
  idOf(bytes: string): number;
}

const built = new WeakMap<SentencePieceModel, Vocab>();

/** The tables of a model, built once per model (a tokenizer may hold several processors of one model). */
export function buildVocab(model: SentencePieceModel): Vocab {
  let vocab = built.get(model);
  if (vocab === undefined) {
    vocab = createVocab(model);
    built.set(model, vocab);
  }
  return vocab;
}

function createVocab(model: SentencePieceModel): Vocab {
  const encodable = new Map<string, number>();
  const reserved = new Map<string, number>();
  const userDefined: string[] = [];
  let unkId = -1;
  model.pieces.forEach((p, id) => {
    switch (p.type) {
      case "normal":
      case "unused":
        encodable.set(p.bytes, id);
        break;
      case "user-defined":
        encodable.set(p.bytes, id);
        userDefined.push(p.bytes);
        break;
      case "unknown":
        unkId = id;
        reserved.set(p.bytes, id);
        break;
      case "control":
      case "byte":
        reserved.set(p.bytes, id);
        break;
      default: {
        const never: never = p.type;
        throw new Error(`unknown piece type ${String(never)}`);
      }
    }
  });
  return {
    pieces: model.pieces,
    encodable,
    reserved,
    unkId,
    userDefined: createPrefixMatcher(userDefined),
    hasUserDefined: userDefined.length > 0,
    idOf: (bytes) => reserved.get(bytes) ?? encodable.get(bytes) ?? unkId,
  };
}
