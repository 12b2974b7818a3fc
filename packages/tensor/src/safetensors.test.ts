import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DTYPES, type DType, allocData, dtypeSize } from "./dtype.js";
import { openSafetensors, writeSafetensors, writeSafetensorsStreaming } from "./safetensors.js";
import { type Tensor, numel, tensor } from "./tensor.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-safetensors-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes a file by hand: the 8-byte length (`declaredLength` overrides it), the header text, the data bytes. */
function rawFile(name: string, header: unknown, data: number | Uint8Array, declaredLength?: bigint): string {
  const json =
    header instanceof Uint8Array ? header : Buffer.from(typeof header === "string" ? header : JSON.stringify(header), "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength ?? BigInt(json.length));
  const bytes = typeof data === "number" ? new Uint8Array(data) : data;
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.concat([len, json, bytes]));
  return file;
}

/** A tensor of `dtype` and `shape` whose every byte is distinct-ish and deterministic. */
function sample(dtype: DType, shape: readonly number[]): Tensor {
  const data = allocData(dtype, numel(shape));
  const bytes = new Uint8Array(data.buffer);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + dtypeSize(dtype)) & 0xff;
  if (dtype === "bool") for (let i = 0; i < bytes.length; i++) bytes[i]! &= 1;
  return { dtype, shape, data };
}

/** The WebAssembly global, which @types/node leaves undeclared. */
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { buffer: ArrayBufferLike } } }).WebAssembly;

const f32 = (name: string, begin: number, end: number, shape: number[] = [(end - begin) / 4]) => ({
  [name]: { dtype: "F32", shape, data_offsets: [begin, end] },
});

describe("PaddleNLP's U16 tensors", () => {
  it("are read as bf16 when the caller says the model is bfloat16, and refused otherwise", () => {
    const file = rawFile("paddle.safetensors", { __metadata__: { format: "np" }, w: { dtype: "U16", shape: [2], data_offsets: [0, 4] } }, new Uint8Array([0x80, 0x3f, 0x00, 0x40]));
    assert.throws(() => openSafetensors(file), new RegExp(`${file}: tensor "w": stored as U16, which a checkpoint holds only as PaddleNLP's bfloat16, but the model's config\\.json does not say "dtype": "bfloat16"$`));
    const src = openSafetensors(file, { uint16As: "bf16" });
    try {
      assert.equal(src.info("w").dtype, "bf16");
      assert.deepEqual([...src.read("w").data], [0x3f80, 0x4000]);
      assert.equal(src.metadata["format"], "np");
    } finally {
      src.close();
    }
  });
});

describe("malformed safetensors files each give one clear error naming the file and tensor", () => {
  const cases: { name: string; make: () => string; error: RegExp }[] = [
    { name: "empty file", make: () => (fs.writeFileSync(path.join(dir, "empty.safetensors"), ""), path.join(dir, "empty.safetensors")), error: /empty\.safetensors: file is 0 bytes, shorter than the 8-byte header length/ },
    { name: "5-byte file", make: () => (fs.writeFileSync(path.join(dir, "five.safetensors"), "abcde"), path.join(dir, "five.safetensors")), error: /five\.safetensors: file is 5 bytes/ },
    { name: "header length past end of file", make: () => rawFile("long.safetensors", {}, 0, 1000n), error: /long\.safetensors: header length 1000 runs past the end of the file \(2 bytes follow the length\)/ },
    { name: "header length near 2^64", make: () => rawFile("huge.safetensors", {}, 0, 0xffffffffffffff00n), error: /huge\.safetensors: header length 18446744073709551360 runs past the end/ },
    { name: "header not JSON", make: () => rawFile("notjson.safetensors", "{nope", 0), error: /notjson\.safetensors: header is not valid UTF-8 JSON/ },
    { name: "header not UTF-8", make: () => rawFile("notutf8.safetensors", new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), 0), error: /notutf8\.safetensors: header is not valid UTF-8 JSON/ },
    { name: "header an array", make: () => rawFile("array.safetensors", [], 0), error: /array\.safetensors: header must be a JSON object, found an array/ },
    { name: "header null", make: () => rawFile("null.safetensors", "null", 0), error: /null\.safetensors: header must be a JSON object, found null/ },
    { name: "entry not an object", make: () => rawFile("entry.safetensors", { w: 3 }, 0), error: /entry\.safetensors: tensor "w": entry must be an object/ },
    { name: "missing dtype", make: () => rawFile("nodtype.safetensors", { w: { shape: [1], data_offsets: [0, 4] } }, 4), error: /nodtype\.safetensors: tensor "w": "dtype" must be a string, found undefined/ },
    { name: "unknown dtype", make: () => rawFile("f8.safetensors", { w: { dtype: "F8_E4M3", shape: [4], data_offsets: [0, 4] } }, 4), error: /f8\.safetensors: tensor "w": unsupported dtype "F8_E4M3" \(supported: F64, F32/ },
    { name: "dtype named like an Object property", make: () => rawFile("proto.safetensors", { w: { dtype: "constructor", shape: [1], data_offsets: [0, 4] } }, 4), error: /proto\.safetensors: tensor "w": unsupported dtype "constructor"/ },
    { name: "shape not an array", make: () => rawFile("shape1.safetensors", { w: { dtype: "F32", shape: 4, data_offsets: [0, 16] } }, 16), error: /shape1\.safetensors: tensor "w": "shape" must be an array of non-negative integers, found 4/ },
    { name: "negative dim", make: () => rawFile("shape2.safetensors", { w: { dtype: "F32", shape: [-1, 4], data_offsets: [0, 16] } }, 16), error: /shape2\.safetensors: tensor "w": "shape" must be an array of non-negative integers, found \[-1,4\]/ },
    { name: "fractional dim", make: () => rawFile("shape3.safetensors", { w: { dtype: "F32", shape: [1.5], data_offsets: [0, 16] } }, 16), error: /shape3\.safetensors: tensor "w": "shape"/ },
    { name: "missing data_offsets", make: () => rawFile("off1.safetensors", { w: { dtype: "F32", shape: [1] } }, 4), error: /off1\.safetensors: tensor "w": "data_offsets" must be \[begin, end\] of non-negative integers, found undefined/ },
    { name: "data_offsets of three numbers", make: () => rawFile("off2.safetensors", { w: { dtype: "F32", shape: [1], data_offsets: [0, 4, 8] } }, 8), error: /off2\.safetensors: tensor "w": "data_offsets" must be \[begin, end\]/ },
    { name: "data_offsets as strings", make: () => rawFile("off3.safetensors", { w: { dtype: "F32", shape: [1], data_offsets: ["0", "4"] } }, 4), error: /off3\.safetensors: tensor "w": "data_offsets"/ },
    { name: "end before begin", make: () => rawFile("backwards.safetensors", f32("w", 8, 4, [1]), 8), error: /backwards\.safetensors: tensor "w": data_offsets \[8, 4\] end before they begin/ },
    { name: "offsets past the data section", make: () => rawFile("past.safetensors", f32("w", 0, 16), 8), error: /past\.safetensors: tensor "w": data_offsets \[0, 16\] run past the end of the data section \(8 bytes\)/ },
    { name: "byte length not numel * size", make: () => rawFile("model.safetensors", f32("model.norm.weight", 0, 100, [64]), 100), error: /model\.safetensors: tensor "model\.norm\.weight": data_offsets \[0, 100\] hold 100 bytes but F32 \[64\] needs 256/ },
    { name: "a shape whose size overflows", make: () => rawFile("overflow.safetensors", f32("w", 0, 4, [2 ** 40, 2 ** 40, 2 ** 40]), 4), error: /overflow\.safetensors: tensor "w": data_offsets \[0, 4\] hold 4 bytes but F32 \[1099511627776, 1099511627776, 1099511627776\] needs more than 2\^53 bytes/ },
    { name: "overlapping tensors", make: () => rawFile("overlap.safetensors", { ...f32("a", 0, 8), ...f32("b", 4, 12) }, 12), error: /overlap\.safetensors: tensor "b": data_offsets \[4, 12\] overlap tensor "a", which ends at 8/ },
    { name: "a hole between tensors", make: () => rawFile("hole.safetensors", { ...f32("a", 0, 4), ...f32("b", 8, 12) }, 12), error: /hole\.safetensors: tensor "b": data_offsets \[8, 12\] leave a hole: bytes \[4, 8\)/ },
    { name: "trailing bytes after the last tensor", make: () => rawFile("trailing.safetensors", f32("a", 0, 4), 8), error: /trailing\.safetensors: the tensors cover 4 bytes of data but 8 follow the header/ },
    { name: "non-string metadata", make: () => rawFile("meta.safetensors", { __metadata__: { total: 3 } }, 0), error: /meta\.safetensors: "__metadata__" key "total" must be a string, found 3/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const file = c.make();
      assert.throws(() => openSafetensors(file), (e: Error) => {
        assert.match(e.message, c.error);
        assert.ok(e.message.startsWith(file), `message names the file: ${e.message}`);
        return true;
      });
    });
  }
  it("has at least 10 kinds", () => assert.ok(cases.length >= 10));
});

describe("reading", () => {
  it("accepts a hand-made file with space padding, zero-size tensors and unknown entry keys", () => {
    const data = new Uint8Array(12);
    new Float32Array(data.buffer).set([1, 2, 3]);
    const header =
      '{"__metadata__":{"format":"pt","__proto__":"stays a key"},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12],"extra":true},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"z":{"dtype":"I64","shape":[0,3],"data_offsets":[12,12]}}';
    const file = rawFile("hand.safetensors", header + "     ", data);
    const src = openSafetensors(file);
    try {
      assert.deepEqual(src.names, ["a", "b", "z"]);
      assert.deepEqual({ ...src.metadata }, JSON.parse('{"format":"pt","__proto__":"stays a key"}'));
      assert.equal(Object.getPrototypeOf(src.metadata), Object.prototype);
      assert.deepEqual([...src.read("b").data], [2, 3]);
      const z = src.read("z");
      assert.equal(z.dtype, "i64");
      assert.deepEqual(z.shape, [0, 3]);
      assert.equal(z.data.length, 0);
      const info = src.info("b");
      assert.equal(info.file, file);
      assert.equal(info.byteLength, 8);
      assert.equal(info.byteOffset, 8 + header.length + 5 + 4);
    } finally {
      src.close();
    }
  });

  it("names the tensor and the file for a missing tensor, a wrong readInto target and reads after close", () => {
    const file = path.join(dir, "small.safetensors");
    writeSafetensors(file, { w: tensor("f32", [2], new Float32Array([1, 2])) });
    const src = openSafetensors(file);
    assert.equal(src.has("w"), true);
    assert.equal(src.has("v"), false);
    assert.throws(() => src.info("v"), new RegExp(`^Error: ${file}: no tensor named "v"`));
    assert.throws(() => src.read("v"), /no tensor named "v"/);
    assert.throws(() => src.readInto("w", new Uint8Array(7)), /small\.safetensors: tensor "w": readInto target holds 7 bytes, the tensor 8/);
    src.close();
    assert.throws(() => src.read("w"), /small\.safetensors: tensor "w" read after close\(\)/);
    src.close();
  });

  it("reads only the tensor asked for: a truncated tail does not stop earlier tensors", () => {
    const file = path.join(dir, "lazy.safetensors");
    writeSafetensors(file, [
      ["a", tensor("f32", [2], new Float32Array([5, 6]))],
      ["b", tensor("f32", [1024], new Float32Array(1024).fill(7))],
    ]);
    const src = openSafetensors(file);
    try {
      const size = fs.statSync(file).size;
      fs.truncateSync(file, size - 100);
      assert.deepEqual([...src.read("a").data], [5, 6]);
      assert.throws(() => src.read("b"), /lazy\.safetensors: tensor "b": file ended after \d+ of 4096 bytes/);
    } finally {
      src.close();
    }
  });

  it("reads into a view on a SharedArrayBuffer and on shared WebAssembly memory", () => {
    const file = path.join(dir, "shared.safetensors");
    const w = new Float32Array(1000).map((_, i) => i * 0.5 - 7);
    writeSafetensors(file, { w: tensor("f32", [10, 100], w) });
    const src = openSafetensors(file);
    try {
      const sab = new SharedArrayBuffer(8192);
      src.readInto("w", new Uint8Array(sab, 64, 4000));
      assert.deepEqual(new Float32Array(sab, 64, 1000), w);
      const memory = new wasm.Memory({ initial: 1, maximum: 2, shared: true });
      assert.ok(memory.buffer instanceof SharedArrayBuffer);
      src.readInto("w", new Uint8Array(memory.buffer, 1024, 4000));
      assert.deepEqual(new Float32Array(memory.buffer, 1024, 1000), w);
    } finally {
      src.close();
    }
  });
});

describe("writing", () => {
  it("round-trips every dtype, shapes including scalars and empty tensors, and metadata", () => {
    const file = path.join(dir, "all.safetensors");
    const tensors: [string, Tensor][] = DTYPES.map((d, i) => [`t.${d}`, sample(d, [3, i + 1])]);
    tensors.push(["scalar", sample("f32", [])], ["empty", sample("bf16", [4, 0])], ["odd", sample("u8", [5])]);
    writeSafetensors(file, tensors, { format: "pt", note: "round trip" });
    const src = openSafetensors(file);
    try {
      assert.deepEqual(src.names, tensors.map(([n]) => n).sort());
      assert.deepEqual({ ...src.metadata }, { format: "pt", note: "round trip" });
      for (const [name, t] of tensors) {
        const r = src.read(name);
        assert.equal(r.dtype, t.dtype, name);
        assert.deepEqual(r.shape, t.shape, name);
        assert.deepEqual(r.data, t.data, name);
        const info = src.info(name);
        assert.equal(info.byteOffset % dtypeSize(t.dtype), 0, `${name} is aligned to its element size`);
        const raw = new Uint8Array(info.byteLength);
        src.readInto(name, raw);
        assert.deepEqual(raw, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      }
    } finally {
      src.close();
    }
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0, "header padded to 8 bytes");
    const text = bytes.subarray(8, 8 + n).toString("utf8");
    assert.match(text, /^\{"__metadata__":/);
    assert.equal(text, text.trimEnd() + " ".repeat(text.length - text.trimEnd().length));
  });

  it("writes a view with an offset into its buffer correctly", () => {
    const file = path.join(dir, "view.safetensors");
    const buf = new Float32Array([9, 9, 1, 2, 3, 9]);
    writeSafetensors(file, { v: tensor("f32", [3], buf.subarray(2, 5)) });
    const src = openSafetensors(file);
    assert.deepEqual([...src.read("v").data], [1, 2, 3]);
    src.close();
  });

  it("streams tensors produced on demand, in chunks", () => {
    const file = path.join(dir, "stream.safetensors");
    const produced: string[] = [];
    writeSafetensorsStreaming(file, {
      tensors: [
        { name: "small", dtype: "bf16", shape: [3] },
        { name: "big", dtype: "f32", shape: [4, 1000] },
      ],
      data: function* (plan) {
        produced.push(plan.name);
        if (plan.name === "big") {
          for (let row = 0; row < 4; row++) yield new Float32Array(1000).fill(row);
        } else {
          yield new Uint16Array([0x3f80, 0x4000, 0x4040]);
        }
      },
    });
    assert.deepEqual(produced, ["big", "small"], "larger elements are written first");
    const src = openSafetensors(file);
    try {
      const big = src.read("big").data as Float32Array;
      assert.equal(big[0], 0);
      assert.equal(big[3999], 3);
      assert.deepEqual([...src.read("small").data], [0x3f80, 0x4000, 0x4040]);
    } finally {
      src.close();
    }
  });

  it("is atomic: a failure leaves neither a partial file nor a temporary one, and keeps the old file", () => {
    const sub = fs.mkdtempSync(path.join(dir, "atomic-"));
    const file = path.join(sub, "model.safetensors");
    writeSafetensors(file, { old: tensor("f32", [1], new Float32Array([1])) });
    const before = fs.readFileSync(file);
    assert.throws(
      () =>
        writeSafetensorsStreaming(file, {
          tensors: [{ name: "w", dtype: "f32", shape: [2] }],
          data: function* () {
            yield new Float32Array(1);
            throw new Error("generator failed");
          },
        }),
      /generator failed/,
    );
    assert.throws(
      () => writeSafetensorsStreaming(file, { tensors: [{ name: "w", dtype: "f32", shape: [2] }], data: () => [new Float32Array(1)] }),
      /model\.safetensors: tensor "w": data holds 4 bytes but F32 \[2\] needs 8/,
    );
    assert.throws(
      () => writeSafetensorsStreaming(file, { tensors: [{ name: "w", dtype: "f32", shape: [2] }], data: () => [new Float32Array(3)] }),
      /tensor "w": data holds more than the 8 bytes F32 \[2\] needs/,
    );
    assert.deepEqual(fs.readdirSync(sub), ["model.safetensors"]);
    assert.deepEqual(fs.readFileSync(file), before);
  });

  it("refuses bad input before creating anything", () => {
    const file = path.join(dir, "bad.safetensors");
    assert.throws(
      () => writeSafetensors(file, [["a", tensor("f32", [1], new Float32Array(1))], ["a", tensor("f32", [1], new Float32Array(1))]]),
      /bad\.safetensors: tensor "a" given twice/,
    );
    assert.throws(() => writeSafetensors(file, { w: { dtype: "f32", shape: [3], data: new Float32Array(2) } }), /tensor "w": f32 \[3\] needs 3 elements, its data holds 2/);
    assert.throws(() => writeSafetensors(file, { __metadata__: tensor("f32", [1], new Float32Array(1)) }), /cannot write a tensor named "__metadata__"/);
    assert.throws(() => writeSafetensors(file, {}, { n: 3 as unknown as string }), /metadata "n" must be a string/);
    assert.throws(() => writeSafetensors(path.join(dir, "no", "such", "dir.safetensors"), {}), /dir\.safetensors: cannot create a temporary file in/);
    assert.equal(fs.existsSync(file), false);
  });
});
