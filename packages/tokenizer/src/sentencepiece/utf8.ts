/**
 * UTF-8 as sentencepiece reads it, on byte strings (one char per byte, the
 * form the encoders work in so lengths and offsets are bytes, as in C++).
 *
 * Its rules differ from TextDecoder's in one way that shows in decoded text:
 * an invalid sequence costs ONE byte and one U+FFFD, so a character cut
 * after two of its three bytes decodes to two U+FFFD, not one.
 */

/** Text to its UTF-8 byte string (a lone surrogate becomes U+FFFD's bytes, as Python would refuse it). */
export function toByteString(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** A byte string of valid UTF-8 back to text. */
export function fromByteString(bytes: string): string {
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** The length sentencepiece assumes for the character a lead byte starts (OneCharLen). */
export function oneCharLength(leadByte: number): number {
  return leadByte < 0xc0 ? 1 : leadByte < 0xe0 ? 2 : leadByte < 0xf0 ? 3 : 4;
}

const isTrail = (b: number): boolean => (b & 0xc0) === 0x80;
const isValidCodePoint = (c: number): boolean => c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);

/**
 * The length of the valid character at `pos`, or 0 when the bytes there are
 * not one (sentencepiece's IsValidDecodeUTF8; an encoded U+FFFD is valid).
 */
export function validCharLength(bytes: string, pos: number): number {
  const len = bytes.length - pos;
  const b0 = bytes.charCodeAt(pos);
  if (b0 < 0x80) return 1;
  const b1 = bytes.charCodeAt(pos + 1);
  if (len >= 2 && (b0 & 0xe0) === 0xc0) {
    const cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f);
    return isTrail(b1) && cp >= 0x80 ? 2 : 0;
  }
  const b2 = bytes.charCodeAt(pos + 2);
  if (len >= 3 && (b0 & 0xf0) === 0xe0) {
    const cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f);
    return isTrail(b1) && isTrail(b2) && cp >= 0x800 && isValidCodePoint(cp) ? 3 : 0;
  }
  const b3 = bytes.charCodeAt(pos + 3);
  if (len >= 4 && (b0 & 0xf8) === 0xf0) {
    const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f);
    return isTrail(b1) && isTrail(b2) && isTrail(b3) && cp >= 0x10000 && isValidCodePoint(cp) ? 4 : 0;
  }
  return 0;
}

/** Decodes arbitrary bytes the way sentencepiece's decoder does: one U+FFFD per byte it cannot read. */
export function decodeBytesLikeSentencePiece(bytes: string): string {
  let out = "";
  let pos = 0;
  while (pos < bytes.length) {
    const n = validCharLength(bytes, pos);
    if (n === 0) {
      out += "\uFFFD";
      pos += 1;
    } else {
      out += fromByteString(bytes.slice(pos, pos + n));
      pos += n;
    }
  }
  return out;
}
