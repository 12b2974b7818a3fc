/**
 * Test support: zip archives built field by field, as torch.save lays them
 * out (stored entries, the zip64 end records torch always writes), with
 * hooks to break any one field. Not exported from index.ts.
 */
import { crc32 } from "../zip.js";

export interface ZipEntrySpec {
  readonly name: string;
  readonly data: Uint8Array;
  /** Compression method written in both headers (default 0, stored; the data is written as given). */
  readonly method?: number;
  readonly flags?: number;
  /** The CRC-32 written (default: the data's). */
  readonly crc?: number;
  /** The size written in the central directory (default: the data's length); over 32 bits goes to a zip64 extra field. */
  readonly declaredSize?: number;
  /** The name written in the local header (default: `name`). */
  readonly localName?: string;
  /** The local header offset written in the central directory (default: where it is). */
  readonly headerOffset?: number;
}

export interface ZipSpec {
  /** Write the zip64 end record and locator, as torch does (default true). */
  readonly zip64?: boolean;
  /** Entry count written in the zip64 record (default: the real count). */
  readonly zip64Entries?: number;
  /** Central directory offset written in the 32-bit end record (default: the real one). */
  readonly eocdCdOffset?: number;
  readonly comment?: string;
}

function le(n: number | bigint, size: 2 | 4 | 8): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  for (let i = 0; i < size; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** A zip archive of `entries`. */
export function zipArchive(entries: readonly ZipEntrySpec[], spec: ZipSpec = {}): Uint8Array {
  const enc = new TextEncoder();
  const out: number[] = [];
  const central: number[] = [];
  for (const e of entries) {
    const name = enc.encode(e.name);
    const localName = enc.encode(e.localName ?? e.name);
    const crc = e.crc ?? crc32(e.data);
    const method = e.method ?? 0;
    const flags = e.flags ?? 0;
    const offset = out.length;
    out.push(...le(0x04034b50, 4), ...le(20, 2), ...le(flags, 2), ...le(method, 2), 0, 0, 0, 0, ...le(crc, 4));
    out.push(...le(e.data.length, 4), ...le(e.data.length, 4), ...le(localName.length, 2), ...le(0, 2), ...localName, ...e.data);
    const size = e.declaredSize ?? e.data.length;
    const big = size > 0xfffffffe;
    const extra = big ? [...le(1, 2), ...le(16, 2), ...le(size, 8), ...le(size, 8)] : [];
    const small = big ? 0xffffffff : size;
    central.push(...le(0x02014b50, 4), ...le(45, 2), ...le(45, 2), ...le(flags, 2), ...le(method, 2), 0, 0, 0, 0, ...le(crc, 4));
    central.push(...le(small, 4), ...le(small, 4), ...le(name.length, 2), ...le(extra.length, 2), ...le(0, 2), ...le(0, 2), ...le(0, 2), ...le(0, 4));
    central.push(...le(e.headerOffset ?? offset, 4), ...name, ...extra);
  }
  const cdOffset = out.length;
  out.push(...central);
  if (spec.zip64 ?? true) {
    const recordAt = out.length;
    const n = spec.zip64Entries ?? entries.length;
    out.push(...le(0x06064b50, 4), ...le(44, 8), ...le(0x031e, 2), ...le(45, 2), ...le(0, 4), ...le(0, 4));
    out.push(...le(n, 8), ...le(n, 8), ...le(central.length, 8), ...le(cdOffset, 8));
    out.push(...le(0x07064b50, 4), ...le(0, 4), ...le(recordAt, 8), ...le(1, 4));
  }
  const comment = enc.encode(spec.comment ?? "");
  out.push(...le(0x06054b50, 4), 0, 0, 0, 0, ...le(entries.length, 2), ...le(entries.length, 2), ...le(central.length, 4));
  out.push(...le(spec.eocdCdOffset ?? cdOffset, 4), ...le(comment.length, 2), ...comment);
  return new Uint8Array(out);
}
