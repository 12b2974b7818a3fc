/**
 * sentencepiece's normalizer: text to the byte string the model splits.
 * In order, as its Normalizer::Normalize does: drop leading spaces (with
 * remove_extra_whitespaces), add "▁" in front (add_dummy_prefix), then per
 * character apply the longest matching rule of the character map (user-defined
 * symbols are kept as they are, bytes that are not UTF-8 become U+FFFD),
 * collapse runs of spaces (remove_extra_whitespaces), write each space as
 * "▁" (escape_whitespaces), and drop trailing spaces.
 */
import type { NormalizerSpec } from "./model.js";
import type { PrefixMatcher } from "./prefix-matcher.js";
import { validCharLength } from "./utf8.js";

const SPACE_SYMBOL = "\xe2\x96\x81"; // "▁" as UTF-8 bytes
const REPLACEMENT = "\xef\xbf\xbd"; // U+FFFD as UTF-8 bytes

/** The normalized form of the first character(s) of `input` at `pos`, and how many bytes it consumed. */
function normalizePrefix(
  input: string,
  pos: number,
  spec: NormalizerSpec,
  userDefined: PrefixMatcher | null,
): [string, number] {
  if (userDefined !== null) {
    const m = userDefined.match(input, pos);
    if (m.found) return [input.slice(pos, pos + m.length), m.length];
  }
  const rule = spec.charsmap?.longestMatch(input, pos) ?? null;
  if (rule !== null) return [rule.replacement, rule.length];
  const n = validCharLength(input, pos);
  return n === 0 ? [REPLACEMENT, 1] : [input.slice(pos, pos + n), n];
}

/** Normalizes a byte string (UTF-8, one char per byte); returns a byte string. */
export function normalize(input: string, spec: NormalizerSpec, userDefined: PrefixMatcher | null): string {
  let pos = 0;
  if (spec.removeExtraWhitespaces) {
    while (pos < input.length) {
      const [piece, consumed] = normalizePrefix(input, pos, spec, userDefined);
      if (piece !== " ") break;
      pos += consumed;
    }
  }
  if (pos >= input.length) return "";

  const space = spec.escapeWhitespaces ? SPACE_SYMBOL : " ";
  let out = spec.addDummyPrefix ? space : "";
  let isPrevSpace = spec.removeExtraWhitespaces;
  while (pos < input.length) {
    let [piece, consumed] = normalizePrefix(input, pos, spec, userDefined);
    if (isPrevSpace) {
      let skip = 0;
      while (skip < piece.length && piece.charCodeAt(skip) === 0x20) skip++;
      piece = piece.slice(skip);
    }
    if (piece.length > 0) {
      out += spec.escapeWhitespaces ? piece.replaceAll(" ", SPACE_SYMBOL) : piece;
      isPrevSpace = piece.endsWith(" ");
    }
    pos += consumed;
    if (!spec.removeExtraWhitespaces) isPrevSpace = false;
  }
  if (spec.removeExtraWhitespaces) {
    while (out.endsWith(space)) out = out.slice(0, out.length - space.length);
  }
  return out;
}
