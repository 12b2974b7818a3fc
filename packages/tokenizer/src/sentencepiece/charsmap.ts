/**
 * sentencepiece's precompiled character map: the compiled form of a
 * normalization rule set (nmt_nfkc and friends). The blob is
 *
 *   uint32 LE trie_size | darts-clone double array (trie_size bytes) | replacement strings, each ending in NUL
 *
 * The double array maps a UTF-8 byte sequence to the offset of its
 * replacement. Normalization asks, at each position of the input, for the
 * LONGEST sequence the trie holds. Every index into the array and the
 * strings is checked, so a corrupt map is an error, never a wild read.
 */

export interface Charsmap {
  /**
   * The longest rule matching `input` (a byte string: one char per byte) at
   * `pos`: how many bytes it consumes and its replacement (a byte string);
   * null when no rule matches there.
   */
  longestMatch(input: string, pos: number): { length: number; replacement: string } | null;
}

/** Parses a precompiled_charsmap blob; `where` names it in errors. */
export function parseCharsmap(blob: Uint8Array, where: string): Charsmap {
  if (blob.length <= 4) throw new Error(`${where}: ${blob.length} bytes is too short for a character map`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const trieSize = view.getUint32(0, true);
  if (trieSize === 0 || trieSize % 4 !== 0 || 4 + trieSize > blob.length) {
    throw new Error(`${where}: its trie claims ${trieSize} bytes of a ${blob.length}-byte map`);
  }
  const units = new Uint32Array(trieSize / 4);
  for (let i = 0; i < units.length; i++) units[i] = view.getUint32(4 + 4 * i, true);
  const strings = Buffer.from(blob.subarray(4 + trieSize)).toString("latin1");

  const unit = (index: number): number => {
    if (index >= units.length) throw new Error(`${where}: the trie points outside itself (unit ${index} of ${units.length})`);
    return units[index] as number;
  };
  // darts-clone's unit layout.
  const hasLeaf = (u: number): boolean => ((u >>> 8) & 1) === 1;
  const value = (u: number): number => u & 0x7fffffff;
  const label = (u: number): number => (u & 0x800000ff) >>> 0;
  const offset = (u: number): number => ((u >>> 10) << ((u & (1 << 9)) >>> 6)) >>> 0;
  const replacementAt = (start: number): string => {
    const end = strings.indexOf("\0", start);
    if (start >= strings.length || end < 0) {
      throw new Error(`${where}: a rule's replacement at ${start} is outside the ${strings.length} bytes of strings`);
    }
    return strings.slice(start, end);
  };

  return {
    longestMatch(input, pos) {
      // darts-clone's commonPrefixSearch, keeping the longest result.
      let nodePos = offset(unit(0));
      let best: { length: number; replacement: string } | null = null;
      for (let i = pos; i < input.length; i++) {
        const byte = input.charCodeAt(i);
        nodePos = (nodePos ^ byte) >>> 0;
        const u = unit(nodePos);
        if (label(u) !== byte) break;
        nodePos = (nodePos ^ offset(u)) >>> 0;
        if (hasLeaf(u)) best = { length: i - pos + 1, replacement: replacementAt(value(unit(nodePos))) };
      }
      return best;
    },
  };
}
