import { readFully } from "./tensor-source.js";

/*
 * A strict reader of the zip archives torch.save writes (PKWARE APPNOTE
 * 6.3): stored entries only (torch never compresses, so nothing is ever
 * inflated and no declared size can make the reader allocate more than the
 * file holds), the zip64 records torch always writes, no encryption, one
 * disk. Every offset and size is checked against the file before use: the
 * central directory must end exactly where the end records begin, each
 * entry's local header must repeat its name, and entries' data may not
 * overlap each other or the directory. Entry data is not read here: a
 * caller reads the ranges it needs, so a multi-GB checkpoint opens in
 * microseconds.
 */

/** One stored entry of the archive. */
export interface ZipEntry {
  readonly name: string;
  /** Absolute offset of the entry's data in the file. */
  readonly dataOffset: number;
  readonly size: number;
  readonly crc32: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const EOCD_BYTES = 22;
const LOCATOR_BYTES = 20;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_BYTES = 46;
const LOCAL_BYTES = 30;
const MAX_COMMENT = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

function read(fd: number, file: string, position: number, length: number, what: string): DataView {
  const bytes = new Uint8Array(length);
  readFully(fd, file, bytes, position, what);
  return new DataView(bytes.buffer);
}

/** A 64-bit field as a number, or an error when it cannot be an offset into this file. */
function u64(view: DataView, at: number, file: string, what: string, fileSize: number): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(fileSize)) throw new Error(`${file}: zip ${what} ${v} is larger than the file (${fileSize} bytes)`);
  return Number(v);
}

interface EndRecord {
  readonly entries: number;
  readonly cdSize: number;
  readonly cdOffset: number;
  /** Where the central directory must end: the zip64 record, or the end record. */
  readonly cdEnd: number;
}

/** Finds and checks the end-of-central-directory record and, when present, the zip64 locator and record. */
function readEnd(fd: number, file: string, fileSize: number): EndRecord {
  if (fileSize < EOCD_BYTES) {
    throw new Error(`${file}: ${fileSize} bytes, too short to be a zip archive (truncated?)`);
  }
  const tailLength = Math.min(fileSize, EOCD_BYTES + MAX_COMMENT);
  const tailStart = fileSize - tailLength;
  const tail = read(fd, file, tailStart, tailLength, "zip end records");
  let at = -1;
  for (let i = tailLength - EOCD_BYTES; i >= 0; i--) {
    if (tail.getUint32(i, true) === EOCD && tail.getUint16(i + 20, true) === tailLength - i - EOCD_BYTES) {
      at = i;
      break;
    }
  }
  if (at < 0) throw new Error(`${file}: no zip end-of-central-directory record: not a complete zip archive (truncated?)`);
  const eocdPos = tailStart + at;
  const disk = tail.getUint16(at + 4, true);
  const cdDisk = tail.getUint16(at + 6, true);
  const onDisk = tail.getUint16(at + 8, true);
  let entries: number = tail.getUint16(at + 10, true);
  let cdSize: number = tail.getUint32(at + 12, true);
  let cdOffset: number = tail.getUint32(at + 16, true);
  if ((disk !== 0 && disk !== U16_MAX) || (cdDisk !== 0 && cdDisk !== U16_MAX) || onDisk !== entries) {
    throw new Error(`${file}: a multi-disk zip archive (disk ${disk}, directory on disk ${cdDisk}); torch checkpoints are one file`);
  }
  let cdEnd = eocdPos;
  const locatorPos = eocdPos - LOCATOR_BYTES;
  if (locatorPos >= 0) {
    const loc = read(fd, file, locatorPos, LOCATOR_BYTES, "zip64 locator");
    if (loc.getUint32(0, true) === ZIP64_LOCATOR) {
      if (loc.getUint32(4, true) !== 0 || loc.getUint32(16, true) !== 1) throw new Error(`${file}: zip64 locator describes a multi-disk archive`);
      const recordPos = u64(loc, 8, file, "zip64 record offset", fileSize);
      if (recordPos + ZIP64_EOCD_BYTES > locatorPos) {
        throw new Error(`${file}: zip64 record at ${recordPos} does not fit before its locator at ${locatorPos}`);
      }
      const rec = read(fd, file, recordPos, ZIP64_EOCD_BYTES, "zip64 record");
      if (rec.getUint32(0, true) !== ZIP64_EOCD) throw new Error(`${file}: no zip64 record at ${recordPos}, where the locator points`);
      const recordSize = rec.getBigUint64(4, true);
      if (BigInt(recordPos) + 12n + recordSize !== BigInt(locatorPos)) {
        throw new Error(`${file}: zip64 record at ${recordPos} declares ${recordSize} bytes, but its locator follows at ${locatorPos}`);
      }
      if (rec.getUint32(16, true) !== 0 || rec.getUint32(20, true) !== 0) throw new Error(`${file}: zip64 record describes a multi-disk archive`);
      const onDisk64 = u64(rec, 24, file, "entry count", fileSize);
      const entries64 = u64(rec, 32, file, "entry count", fileSize);
      const size64 = u64(rec, 40, file, "central directory size", fileSize);
      const offset64 = u64(rec, 48, file, "central directory offset", fileSize);
      if (onDisk64 !== entries64) throw new Error(`${file}: zip64 record counts ${onDisk64} entries on this disk of ${entries64}`);
      // A 32-bit field holds its value, or the sentinel that defers to zip64; anything else disagrees.
      const pick = (small: number, sentinel: number, big: number, what: string): number => {
        if (small === sentinel || small === big) return big;
        throw new Error(`${file}: the end record says ${what} ${small}, the zip64 record ${big}`);
      };
      entries = pick(entries, U16_MAX, entries64, "entry count");
      cdSize = pick(cdSize, U32_MAX, size64, "central directory size");
      cdOffset = pick(cdOffset, U32_MAX, offset64, "central directory offset");
      cdEnd = recordPos;
    }
  }
  if (cdOffset + cdSize !== cdEnd) {
    throw new Error(`${file}: zip central directory [${cdOffset}, ${cdOffset + cdSize}) does not end where the end records begin (${cdEnd})`);
  }
  if (entries * CENTRAL_BYTES > cdSize) {
    throw new Error(`${file}: zip declares ${entries} entries, more than its ${cdSize}-byte central directory can hold`);
  }
  return { entries, cdSize, cdOffset, cdEnd };
}

/** The bytes [start, end) of the archive that describe its entries: the central directory and the end records. */
export function zipDirectorySpan(fd: number, file: string, fileSize: number): { readonly start: number; readonly end: number } {
  return { start: readEnd(fd, file, fileSize).cdOffset, end: fileSize };
}

/**
 * Reads and checks the central directory of the zip archive open on `fd`,
 * and each entry's local header. `file` names it in errors.
 */
export function readZipDirectory(fd: number, file: string, fileSize: number): ReadonlyMap<string, ZipEntry> {
  const end = readEnd(fd, file, fileSize);
  const cd = read(fd, file, end.cdOffset, end.cdSize, "zip central directory");
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const entries = new Map<string, ZipEntry>();
  const placed: { name: string; header: number; dataEnd: number }[] = [];
  let at = 0;
  for (let i = 0; i < end.entries; i++) {
    if (at + CENTRAL_BYTES > end.cdSize || cd.getUint32(at, true) !== CENTRAL) {
      throw new Error(`${file}: zip central directory entry ${i} of ${end.entries} is missing or malformed at offset ${end.cdOffset + at}`);
    }
    const flags = cd.getUint16(at + 8, true);
    const method = cd.getUint16(at + 10, true);
    const crc32 = cd.getUint32(at + 16, true);
    let compressed: number = cd.getUint32(at + 20, true);
    let size: number = cd.getUint32(at + 24, true);
    const nameLength = cd.getUint16(at + 28, true);
    const extraLength = cd.getUint16(at + 30, true);
    const commentLength = cd.getUint16(at + 32, true);
    let diskStart: number = cd.getUint16(at + 34, true);
    let header: number = cd.getUint32(at + 42, true);
    const next = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (next > end.cdSize) throw new Error(`${file}: zip central directory entry ${i} runs past the end of the directory`);
    const nameBytes = new Uint8Array(cd.buffer, at + CENTRAL_BYTES, nameLength);
    let name: string;
    try {
      name = decoder.decode(nameBytes);
    } catch {
      throw new Error(`${file}: zip entry ${i} has a name that is not UTF-8`);
    }
    const where = `${file}: zip entry "${name}"`;
    if ((flags & 0x41) !== 0) throw new Error(`${where} is encrypted`);
    if (method !== 0) throw new Error(`${where} is compressed (method ${method}); torch.save stores entries uncompressed, and this reader inflates nothing`);
    // The zip64 extra field holds, in this order, each value whose 32-bit field is the sentinel.
    const wants = [size === U32_MAX, compressed === U32_MAX, header === U32_MAX, diskStart === U16_MAX];
    if (wants.some((w) => w)) {
      const values = zip64Extra(new DataView(cd.buffer, at + CENTRAL_BYTES + nameLength, extraLength), wants, where, fileSize);
      let k = 0;
      if (wants[0]) size = values[k++]!;
      if (wants[1]) compressed = values[k++]!;
      if (wants[2]) header = values[k++]!;
      if (wants[3]) diskStart = values[k++]!;
    }
    if (diskStart !== 0) throw new Error(`${where} starts on disk ${diskStart}; torch checkpoints are one file`);
    if (compressed !== size) throw new Error(`${where} is stored, yet declares ${compressed} bytes stored for ${size} bytes of content`);
    if (entries.has(name)) throw new Error(`${file}: zip holds two entries named "${name}"`);
    if (header + LOCAL_BYTES > end.cdOffset) throw new Error(`${where}: local header at ${header} lies past the start of the central directory (${end.cdOffset})`);
    const local = read(fd, file, header, LOCAL_BYTES + nameLength, `zip entry "${name}" header`);
    if (local.getUint32(0, true) !== LOCAL) throw new Error(`${where}: no local header at ${header}, where the central directory points`);
    if (local.getUint16(6, true) !== flags || local.getUint16(8, true) !== method) throw new Error(`${where}: local header disagrees with the central directory on flags or method`);
    const localName = new Uint8Array(local.buffer, LOCAL_BYTES, local.getUint16(26, true) === nameLength ? nameLength : 0);
    if (localName.length !== nameLength || localName.some((b, j) => b !== nameBytes[j])) {
      throw new Error(`${where}: the local header at ${header} names a different entry`);
    }
    const dataOffset = header + LOCAL_BYTES + nameLength + local.getUint16(28, true);
    if (dataOffset + size > end.cdOffset) {
      throw new Error(`${where} declares ${size} bytes at offset ${dataOffset}, past the start of the central directory (${end.cdOffset}): a size that does not fit the file`);
    }
    entries.set(name, { name, dataOffset, size, crc32 });
    placed.push({ name, header, dataEnd: dataOffset + size });
    at = next;
  }
  if (at !== end.cdSize) throw new Error(`${file}: ${end.cdSize - at} bytes of the zip central directory follow its last entry`);
  placed.sort((a, b) => a.header - b.header);
  for (let i = 1; i < placed.length; i++) {
    const prev = placed[i - 1]!;
    const cur = placed[i]!;
    if (cur.header < prev.dataEnd) throw new Error(`${file}: zip entries "${prev.name}" and "${cur.name}" overlap`);
  }
  return entries;
}

/** The values of a zip64 extended-information extra field, one for each `wants`. */
function zip64Extra(extra: DataView, wants: readonly boolean[], where: string, fileSize: number): number[] {
  for (let at = 0; at + 4 <= extra.byteLength; ) {
    const id = extra.getUint16(at, true);
    const length = extra.getUint16(at + 2, true);
    if (at + 4 + length > extra.byteLength) break;
    if (id === 0x0001) {
      const values: number[] = [];
      let k = at + 4;
      for (const [i, want] of wants.entries()) {
        if (!want) continue;
        const bytes = i === 3 ? 4 : 8;
        if (k + bytes > at + 4 + length) throw new Error(`${where}: zip64 extra field is too short for the values it must hold`);
        const v = i === 3 ? extra.getUint32(k, true) : extra.getBigUint64(k, true);
        if (BigInt(v) > BigInt(fileSize)) throw new Error(`${where}: zip64 size or offset ${v} is larger than the file (${fileSize} bytes)`);
        values.push(Number(v));
        k += bytes;
      }
      return values;
    }
    at += 4 + length;
  }
  throw new Error(`${where}: a size or offset needs the zip64 extra field, which is missing or malformed`);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO-HDLC, as zip uses) of `bytes`, continuing from `crc`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Reads a whole (small) entry and checks its CRC-32. */
export function readZipEntry(fd: number, file: string, entry: ZipEntry): Uint8Array {
  const bytes = new Uint8Array(entry.size);
  readFully(fd, file, bytes, entry.dataOffset, `zip entry "${entry.name}"`);
  if (crc32(bytes) !== entry.crc32) throw new Error(`${file}: zip entry "${entry.name}" fails its CRC-32 check (corrupt or edited)`);
  return bytes;
}

/** Checks an entry's CRC-32 by reading it in pieces (for an entry too large to hold). */
export function checkZipEntryCrc(fd: number, file: string, entry: ZipEntry): void {
  const piece = new Uint8Array(Math.min(entry.size, 1 << 20));
  let crc = 0;
  for (let done = 0; done < entry.size; ) {
    const n = Math.min(piece.length, entry.size - done);
    const part = piece.subarray(0, n);
    readFully(fd, file, part, entry.dataOffset + done, `zip entry "${entry.name}"`);
    crc = crc32(part, crc);
    done += n;
  }
  if (crc !== entry.crc32) throw new Error(`${file}: zip entry "${entry.name}" fails its CRC-32 check (corrupt or edited)`);
}
