import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { parseNpy, readNpy, writeNpy } from "./npy.js";

/** Files written by NumPy 2.4.6's np.save / np.lib.format.write_array, base64. */
const NUMPY = {
  f4x2x3: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPgAAAD8AAEA/AACAPwAAoD8=",
  f2x2: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAPoDA",
  f8x2x1x2: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDEsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAEAAAAAAAAAIQA==",
  v2f4x3: "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEA=",
  v3f4x3: "k05VTVBZAwB0AAAAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMywpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEA=",
  scalar: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKCksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAACBA",
  fortran2x3: "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAABAQAAAgD8AAIBAAAAAQAAAoEA=",
};
const bytes = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, "base64"));

/** A header with NumPy's padding around `dict`, followed by `data`. */
function npy(dict: string, data: Uint8Array, version = 1): Uint8Array {
  const pre = version === 1 ? 10 : 12;
  const pad = 64 - ((pre + dict.length + 1) % 64);
  const header = Buffer.from(dict + " ".repeat(pad) + "\n", "latin1");
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]).copy(head);
  head[6] = version;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return new Uint8Array(Buffer.concat([head, header, data]));
}
const f32Bytes = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

test("reads what NumPy writes: f4, f2, f8, versions 2.0 and 3.0, a scalar", () => {
  assert.deepEqual(parseNpy(bytes(NUMPY.f4x2x3), "a.npy"), { dtype: "<f4", shape: [2, 3], data: new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]) });
  assert.deepEqual(parseNpy(bytes(NUMPY.f2x2), "a.npy"), { dtype: "<f2", shape: [2], data: new Float32Array([1.5, -2.25]) });
  assert.deepEqual(parseNpy(bytes(NUMPY.f8x2x1x2), "a.npy"), { dtype: "<f8", shape: [2, 1, 2], data: new Float32Array([0, 1, 2, 3]) });
  assert.deepEqual(parseNpy(bytes(NUMPY.v2f4x3), "a.npy").data, new Float32Array([0, 1, 2]));
  assert.deepEqual(parseNpy(bytes(NUMPY.v3f4x3), "a.npy").data, new Float32Array([0, 1, 2]));
  assert.deepEqual(parseNpy(bytes(NUMPY.scalar), "a.npy"), { dtype: "<f4", shape: [], data: new Float32Array([2.5]) });
});

test("writes the bytes np.save writes, and reads its own files back", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-npy-"));
  try {
    const file = path.join(dir, "x.npy");
    writeNpy(file, { shape: [2, 3], data: new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]) });
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), bytes(NUMPY.f4x2x3));
    writeNpy(file, { shape: [2], data: new Float32Array([1.5, -2.25]), dtype: "<f2" });
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), bytes(NUMPY.f2x2));
    const big = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i / 7);
    writeNpy(file, { shape: [2, 3, 4, 5], data: big });
    assert.deepEqual(readNpy(file), { dtype: "<f4", shape: [2, 3, 4, 5], data: big });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("Fortran order is refused unless it is the same as C order", () => {
  assert.throws(() => parseNpy(bytes(NUMPY.fortran2x3), "f.npy"), /f\.npy: \.npy array is in Fortran order; only C order is supported/);
  const oneDim = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", f32Bytes([1, 2]));
  assert.deepEqual(parseNpy(oneDim, "f.npy").data, new Float32Array([1, 2]));
});

test("every malformed file is a one-line error naming the file", () => {
  const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), /not a \.npy file/],
    [(() => { const b = npy(ok, f32Bytes([1, 2])); b[6] = 4; return b; })(), /format version 4\.0 is not one of 1\.0, 2\.0, 3\.0/],
    [npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f32Bytes([1, 2])), /dtype '>f4' is not supported \(expected little-endian float/],
    [npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", f32Bytes([1, 2])), /dtype '<i4' is not supported/],
    [npy(ok, f32Bytes([1])), /data holds 4 bytes, but <f4 \[2\] needs 8/],
    [npy(ok, f32Bytes([1, 2, 3])), /data holds 12 bytes, but <f4 \[2\] needs 8/],
    [npy("{'descr': '<f4', 'shape': (2,), }", f32Bytes([1, 2])), /must hold exactly 'descr', 'fortran_order' and 'shape', found 'descr', 'shape'/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }", f32Bytes([1, 2])), /value it cannot read/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f32Bytes([1, 2])), /expected a dimension/],
    [npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,) }x", f32Bytes([1, 2])), /text after the dict/],
    [npy("{'descr': '<f4', 'descr': '<f4', 'shape': (2,), }", f32Bytes([1, 2])), /repeats the key 'descr'/],
    [(() => { const b = npy(ok, f32Bytes([1, 2])); new DataView(b.buffer).setUint16(8, 5000, true); return b; })(), /header says 5000 bytes, but the file has only/],
  ];
  for (const [b, re] of cases) {
    assert.throws(
      () => parseNpy(b, "dir/pre_caches.npy"),
      (e: Error) => e.name === "AdapterError" && e.message.startsWith("dir/pre_caches.npy: ") && re.test(e.message) && !e.message.includes("\n"),
      re.source,
    );
  }
  assert.throws(() => readNpy("/nonexistent/pre_caches.npy"), /\/nonexistent\/pre_caches\.npy: cannot be read/);
});
