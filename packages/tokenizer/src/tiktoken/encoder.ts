/**
 * tiktoken's encoder (CoreBPE.encode_ordinary): split the text with the
 * pre-tokenizer pattern; a piece that is a token is that token; otherwise
 * start from its bytes and keep merging the adjacent pair whose
 * concatenation has the LOWEST rank (the leftmost on a tie).
 */
import type { RankTable } from "./rank-file.js";

export interface TiktokenEncoder {
  /** Ids of a text; special tokens are not recognised here. */
  encode(text: string): number[];
  /** Text of ids (each a rank); bytes that are not UTF-8 become U+FFFD. */
  decode(ids: readonly number[]): string;
}

/**
 * GLM-4's pre-tokenizer pattern (the one of its tokenization_chatglm.py),
 * written for JavaScript: `(?i:...)` spelled out as character classes (ſ,
 * U+017F, folds to s), and `\s` as Unicode White_Space, which is what
 * tiktoken's Rust regex means by it (JavaScript's `\s` adds U+FEFF and lacks
 * U+0085).
 */
export const GLM4_PATTERN = new RegExp(
  [
    "'(?:[sSſ]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])",
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+",
    "\\p{N}{1,3}",
    " ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*",
    "\\p{White_Space}*[\\r\\n]+",
    "\\p{White_Space}+(?!\\P{White_Space})",
    "\\p{White_Space}+",
  ].join("|"),
  "gu",
);

export function createTiktokenEncoder(table: RankTable, pattern: RegExp): TiktokenEncoder {
  const { ranks, tokens } = table;
  const rankOf = (bytes: string): number => ranks.get(bytes) ?? Infinity;

  function bytePairEncode(piece: string, out: number[]): void {
    // parts[i] is where part i starts; a part ends where the next starts.
    const parts: number[] = [];
    for (let i = 0; i <= piece.length; i++) parts.push(i);
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 2 < parts.length; i++) {
        const r = rankOf(piece.slice(parts[i] as number, parts[i + 2] as number));
        if (r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      parts.splice(at + 1, 1);
    }
    for (let i = 0; i + 1 < parts.length; i++) out.push(rankOf(piece.slice(parts[i] as number, parts[i + 1] as number)));
  }

  return {
    encode(text) {
      const out: number[] = [];
      for (const m of text.matchAll(pattern)) {
        const piece = Buffer.from(m[0], "utf8").toString("latin1");
        const whole = ranks.get(piece);
        if (whole !== undefined) out.push(whole);
        else bytePairEncode(piece, out);
      }
      return out;
    },
    decode(ids) {
      let bytes = "";
      for (const id of ids) {
        const token = tokens[id];
        if (token === undefined) throw new Error(`tiktoken decode: id ${id} is not a rank of the file (${tokens.length} tokens)`);
        bytes += token;
      }
      return Buffer.from(bytes, "latin1").toString("utf8");
    },
  };
}
