/**
 * Longest-prefix matching over a set of byte strings: sentencepiece's
 * PrefixMatcher, which keeps user-defined symbols whole through
 * normalization and the BPE merges.
 */
import { oneCharLength } from "./utf8.js";

interface Node {
  next: Map<number, Node>;
  end: boolean;
}

export interface PrefixMatcher {
  /**
   * At `pos` of `input` (a byte string): the length of the longest word
   * that starts there and `found: true`, or the length of one character
   * (never past the end) and `found: false`.
   */
  match(input: string, pos: number): { length: number; found: boolean };
}

export function createPrefixMatcher(words: Iterable<string>): PrefixMatcher {
  const root: Node = { next: new Map(), end: false };
  for (const word of words) {
    let node = root;
    for (let i = 0; i < word.length; i++) {
      const byte = word.charCodeAt(i);
      let child = node.next.get(byte);
      if (child === undefined) {
        child = { next: new Map(), end: false };
        node.next.set(byte, child);
      }
      node = child;
    }
    node.end = true;
  }
  return {
    match(input, pos) {
      let node: Node | undefined = root;
      let longest = 0;
      for (let i = pos; i < input.length; i++) {
        node = node.next.get(input.charCodeAt(i));
        if (node === undefined) break;
        if (node.end) longest = i - pos + 1;
      }
      if (longest > 0) return { length: longest, found: true };
      return { length: Math.min(input.length - pos, oneCharLength(input.charCodeAt(pos))), found: false };
    },
  };
}
