/**
 * sentencepiece's unigram encoder (unigram::Model::EncodeOptimized): the
 * Viterbi path through every way of writing the text as pieces, scoring a
 * path by the sum of its pieces' log-probabilities.
 *
 * Ties and near-ties are decided the way the C++ decides them, which this
 * file reproduces exactly: path scores are stored as float32, a candidate
 * is compared in double before it is stored; a user-defined symbol scores
 * `bytes * FLT_MIN - 0.1` (FLT_MIN is the smallest normal float, the C++
 * `max_score_` start value that no negative score replaces); a character no
 * piece covers costs `min_score - 10` as an unknown piece; unused pieces are
 * never chosen.
 */
import type { EncodedPiece } from "./bpe.js";
import type { Vocab } from "./vocab.js";
import { oneCharLength } from "./utf8.js";

const FLT_MIN = 1.1754943508222875e-38;
const FLT_MAX = 3.4028234663852886e38;
const UNK_PENALTY = 10;

interface TrieNode {
  next: Map<number, TrieNode>;
  /** Id of the piece ending here; -1 if none. */
  id: number;
}

export interface UnigramEncoder {
  encode(normalized: string): EncodedPiece[];
}

export function createUnigramEncoder(vocab: Vocab): UnigramEncoder {
  let minScore = FLT_MAX;
  let maxScore = FLT_MIN;
  for (const p of vocab.pieces) {
    if (p.type === "normal") {
      minScore = Math.min(minScore, p.score);
      maxScore = Math.max(maxScore, p.score);
    }
  }
  const unkScore = Math.fround(minScore - UNK_PENALTY);

  const root: TrieNode = { next: new Map(), id: -1 };
  for (const [bytes, id] of vocab.encodable) {
    let node = root;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes.charCodeAt(i);
      let child = node.next.get(b);
      if (child === undefined) {
        child = { next: new Map(), id: -1 };
        node.next.set(b, child);
      }
      node = child;
    }
    node.id = id;
  }

  return {
    encode(normalized) {
      const size = normalized.length;
      if (size === 0) return [];
      // The best path ending at each byte position: its score (a float32 value), start and last piece.
      const bestScore = new Float64Array(size + 1);
      const startsAt = new Int32Array(size + 1).fill(-1);
      const lastId = new Int32Array(size + 1).fill(-1);
      for (let start = 0; start < size; ) {
        const tillHere = bestScore[start] as number;
        const charLength = Math.min(oneCharLength(normalized.charCodeAt(start)), size - start);
        let hasSingleNode = false;
        let node: TrieNode | undefined = root;
        for (let end = start; end < size; ) {
          node = node.next.get(normalized.charCodeAt(end));
          if (node === undefined) break;
          end++;
          const id = node.id;
          if (id < 0) continue;
          const piece = vocab.pieces[id]!;
          if (piece.type === "unused") continue;
          const length = end - start;
          const score = piece.type === "user-defined" ? Math.fround(length * maxScore) - 0.1 : piece.score;
          const candidate = score + tillHere;
          if (startsAt[end] === -1 || candidate > (bestScore[end] as number)) {
            bestScore[end] = Math.fround(candidate);
            startsAt[end] = start;
            lastId[end] = id;
          }
          if (length === charLength) hasSingleNode = true;
        }
        if (!hasSingleNode) {
          const end = start + charLength;
          const candidate = Math.fround(unkScore + tillHere);
          if (startsAt[end] === -1 || candidate > (bestScore[end] as number)) {
            bestScore[end] = candidate;
            startsAt[end] = start;
            lastId[end] = vocab.unkId;
          }
        }
        start += charLength;
      }
      const out: EncodedPiece[] = [];
      for (let end = size; end > 0; end = startsAt[end] as number) {
        out.push({ start: startsAt[end] as number, end, id: lastId[end] as number });
      }
      return out.reverse();
    },
  };
}
