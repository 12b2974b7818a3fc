import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ZipEntrySpec, zipArchive } from "./testing/zip-bytes.js";
import { checkZipEntryCrc, crc32, readZipDirectory, readZipEntry } from "./zip.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-zip-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const entries: ZipEntrySpec[] = [
  { name: "m/data.pkl", data: text("pickle bytes") },
  { name: "m/byteorder", data: text("little") },
  { name: "m/data/0", data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
];

let counter = 0;
function write(bytes: Uint8Array): string {
  const file = path.join(dir, `z${counter++}.bin`);
  fs.writeFileSync(file, bytes);
  return file;
}

function open<T>(file: string, f: (fd: number, size: number) => T): T {
  const fd = fs.openSync(file, "r");
  try {
    return f(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

const directory = (file: string) => open(file, (fd, size) => readZipDirectory(fd, file, size));

describe("readZipDirectory", () => {
  it("reads a stored archive with torch's zip64 end records, each entry at its data offset", () => {
    const file = write(zipArchive(entries));
    const d = directory(file);
    assert.deepEqual([...d.keys()], entries.map((e) => e.name));
    open(file, (fd) => {
      for (const e of entries) assert.deepEqual(readZipEntry(fd, file, d.get(e.name)!), e.data);
      checkZipEntryCrc(fd, file, d.get("m/data/0")!);
    });
  });

  it("reads an archive without zip64 records, and one with a comment", () => {
    assert.equal(directory(write(zipArchive(entries, { zip64: false }))).size, 3);
    assert.equal(directory(write(zipArchive(entries, { comment: "made by hand" }))).size, 3);
  });

  it("computes zip's CRC-32", () => {
    assert.equal(crc32(text("123456789")), 0xcbf43926);
    assert.equal(crc32(text("56789"), crc32(text("1234"))), 0xcbf43926);
  });

  const bad: { name: string; make: () => Uint8Array; error: RegExp }[] = [
    { name: "an empty file", make: () => new Uint8Array(0), error: /0 bytes, too short to be a zip archive/ },
    { name: "a truncated archive", make: () => zipArchive(entries).subarray(0, 100), error: /no zip end-of-central-directory record: not a complete zip archive \(truncated\?\)/ },
    { name: "a compressed entry", make: () => zipArchive([{ ...entries[0]!, method: 8 }]), error: /zip entry "m\/data\.pkl" is compressed \(method 8\); torch\.save stores entries uncompressed/ },
    { name: "an encrypted entry", make: () => zipArchive([{ ...entries[0]!, flags: 1 }]), error: /zip entry "m\/data\.pkl" is encrypted/ },
    { name: "a declared size past the directory", make: () => zipArchive([{ ...entries[2]!, declaredSize: 1000 }]), error: /zip entry "m\/data\/0" declares 1000 bytes at offset \d+, past the start of the central directory/ },
    { name: "a zip64 size of 1 TiB", make: () => zipArchive([{ ...entries[2]!, declaredSize: 2 ** 40 }]), error: /zip entry "m\/data\/0": zip64 size or offset 1099511627776 is larger than the file/ },
    { name: "two entries of one name", make: () => zipArchive([entries[0]!, entries[0]!]), error: /zip holds two entries named "m\/data\.pkl"/ },
    { name: "a local header of another name", make: () => zipArchive([{ ...entries[0]!, localName: "m/data.pkX" }]), error: /zip entry "m\/data\.pkl": the local header at 0 names a different entry/ },
    { name: "a header offset into another entry's data", make: () => zipArchive([entries[0]!, { ...entries[1]!, headerOffset: 10 }]), error: /zip entry "m\/byteorder": no local header at 10/ },
    { name: "a zip64 record that disagrees with the end record", make: () => zipArchive(entries, { zip64Entries: 9 }), error: /zip declares 9 entries|end record says entry count 3, the zip64 record 9/ },
    { name: "a central directory that does not end at the end records", make: () => zipArchive(entries, { zip64: false, eocdCdOffset: 5 }), error: /zip central directory \[5, \d+\) does not end where the end records begin/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}`, () => {
      const file = write(c.make());
      assert.throws(() => directory(file), (e: Error) => {
        assert.match(e.message, c.error);
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    });
  }

  it("refuses overlapping entries", () => {
    // The second entry's header sits inside the first's declared data: its data overlaps the first's.
    const inner = zipArchive([{ name: "b", data: text("x") }], { zip64: false });
    const data = new Uint8Array(64);
    data.set(inner.subarray(0, 32), 0);
    const bytes = zipArchive([{ name: "a", data }, { name: "b", data: text("x"), headerOffset: 30 + 1 }], { zip64: false });
    const file = write(bytes);
    assert.throws(() => directory(file), /zip entries "a" and "b" overlap/);
  });

  it("finds a changed byte by its CRC-32", () => {
    const bytes = zipArchive(entries);
    const file = write(bytes);
    const d = directory(file);
    const e = d.get("m/data/0")!;
    bytes[e.dataOffset] = 99;
    fs.writeFileSync(file, bytes);
    open(file, (fd) => {
      assert.throws(() => readZipEntry(fd, file, e), /zip entry "m\/data\/0" fails its CRC-32 check/);
      assert.throws(() => checkZipEntryCrc(fd, file, e), /fails its CRC-32 check/);
    });
  });
});
