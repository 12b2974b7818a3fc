/**
 * GPT-2's byte-to-character table: byte-level BPE vocabularies (GPT-2's
 * vocab.json, Qwen2's tokenizer.json) spell each byte as a printable
 * character, the printable ASCII and Latin-1 bytes as themselves and the
 * rest as U+0100 onwards, so a token's bytes can be written as a string.
 */

const byteToChar: string[] = [];
const charToByte = new Map<string, number>();
{
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    const ch = printable(b) ? String.fromCharCode(b) : String.fromCharCode(next++);
    byteToChar.push(ch);
    charToByte.set(ch, b);
  }
}

/** A byte string (one char per byte) in GPT-2's byte-level spelling. */
export function byteLevelSpelling(bytes: string): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += byteToChar[bytes.charCodeAt(i)];
  return out;
}

/** The byte string of a byte-level spelling; null when a character is not one of the 256. */
export function fromByteLevelSpelling(text: string): string | null {
  let out = "";
  for (const ch of text) {
    const b = charToByte.get(ch);
    if (b === undefined) return null;
    out += String.fromCharCode(b);
  }
  return out;
}
