import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { openCheckpoint } from "./checkpoint.js";
import { openPdparams } from "./pdparams.js";
import { matchesGolden } from "./pytorch.test.js";
import { GOLDENS, expected } from "./testing/goldens.js";
import { OP, bytes, dict, global, int, numpyArray, pickle, str } from "./testing/pickle-bytes.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-pdparams-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function write(data: Uint8Array): string {
  const file = path.join(dir, `m${counter++}.pdparams`);
  fs.writeFileSync(file, data);
  return file;
}

const f32 = (...xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);

describe("paddle.save state dicts (numpy pickles)", () => {
  const { goldens } = expected();

  it("reads protocol 4 with a Fortran-ordered array, skipping StructuredToParameterName@@", () => {
    const src = openPdparams(path.join(GOLDENS, "qwen2-pdparams", "model_state.pdparams"));
    try {
      assert.equal(src.format, "pdparams");
      matchesGolden(src, goldens["qwen2-pdparams"]!);
    } finally {
      src.close();
    }
  });

  it("reads protocol-2 shards of bf16 saved as uint16, only when told the model is bfloat16", () => {
    const d = path.join(GOLDENS, "llama-pdparams-sharded");
    assert.throws(() => openCheckpoint(d), /tensor "llama\.[^"]+": stored as a uint16 array, which a checkpoint holds only as PaddleNLP's bfloat16, but the model's config\.json does not say "dtype": "bfloat16"/);
    const src = openCheckpoint(d, { uint16As: "bf16" });
    try {
      matchesGolden(src, goldens["llama-pdparams-sharded"]!);
    } finally {
      src.close();
    }
  });

  it("reads any range of a protocol-2 array of several MiB (latin-1 text in UTF-8)", () => {
    const n = 1_000_000;
    const data = new Uint8Array(n * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >> 9)) & 0xff;
    const file = write(pickle(2, dict([["w", numpyArray({ code: "f4", shape: [n], data, protocol: 2 })]])));
    const src = openPdparams(file);
    try {
      assert.deepEqual(src.read("w").data, new Float32Array(data.buffer));
      for (const at of [0, 4, (1 << 20) - 4, 1 << 20, (3 << 20) + 8, data.length - 16]) {
        const part = new Uint8Array(16);
        src.readRange("w", at, part);
        assert.deepEqual(part, data.subarray(at, at + 16), `at ${at}`);
      }
    } finally {
      src.close();
    }
  });

  it("reads a Fortran-ordered matrix in row-major order, and an empty array", () => {
    const file = write(
      pickle(4, dict([
        ["f", numpyArray({ code: "f4", shape: [2, 3], data: f32(1, 4, 2, 5, 3, 6), fortran: true })],
        ["e", numpyArray({ code: "f4", shape: [0, 3], data: new Uint8Array(0) })],
      ])),
    );
    const src = openPdparams(file);
    try {
      assert.deepEqual([...src.read("f").data], [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(src.read("e").shape, [0, 3]);
    } finally {
      src.close();
    }
  });

  const bad: { name: string; data: () => Uint8Array; error: RegExp }[] = [
    { name: "a big-endian array", data: () => pickle(4, dict([["w", numpyArray({ code: "f4", shape: [1], data: f32(1), byteorder: ">" })]])), error: /tensor "w": a big-endian array \(>f4\); Oar reads only little-endian checkpoints/ },
    { name: "a dtype Oar does not hold", data: () => pickle(4, dict([["w", numpyArray({ code: "c8", shape: [1], data: new Uint8Array(8) })]])), error: /tensor "w": numpy dtype "c8" is not one Oar reads/ },
    { name: "data shorter than the shape", data: () => pickle(4, dict([["w", numpyArray({ code: "f4", shape: [3], data: f32(1, 2) })]])), error: /tensor "w": its data holds 8 bytes, but f4 \[3\] needs 12/ },
    { name: "a value that is not an array", data: () => pickle(4, dict([["w", str("x")]])), error: /"w" in the state dict is a str, not a numpy array/ },
    { name: "a list at the top", data: () => pickle(4, OP.EMPTY_LIST), error: /holds a list, not a state dict/ },
    { name: "arrays paddle.save split in parts", data: () => pickle(2, dict([["UnpackBigParamInfor@@", bytes(OP.EMPTY_DICT)]])), error: /holds arrays paddle\.save split into parts/ },
    { name: "numpy's protocol-5 _frombuffer", data: () => pickle(5, global("numpy._core.numeric", "_frombuffer")), error: /refuses the global numpy\._core\.numeric\._frombuffer/ },
    { name: "a BUILD on a dict", data: () => pickle(4, OP.EMPTY_DICT, OP.EMPTY_DICT, OP.BUILD), error: /refuses BUILD on a dict with a dict: only numpy arrays and dtypes may be built/ },
    { name: "_codecs.encode with another encoding", data: () => pickle(2, global("_codecs", "encode"), str("x"), str("rot13"), OP.TUPLE2, OP.REDUCE), error: /_codecs\.encode is called with \(a str, a str\), not \(str, 'latin1'\)/ },
    { name: "a structured dtype", data: () => pickle(4, global("numpy", "dtype"), str("V8"), OP.NEWFALSE, OP.NEWTRUE, OP.TUPLE3, OP.REDUCE, OP.MARK, int(3), str("|"), OP.NONE, OP.EMPTY_TUPLE, OP.EMPTY_DICT, OP.TUPLE, OP.BUILD), error: /numpy dtype state .* is not that of a plain numeric dtype/ },
  ];
  for (const c of bad) {
    it(`refuses ${c.name} with one line naming the file`, () => {
      const file = write(c.data());
      assert.throws(() => openPdparams(file), (e: Error) => {
        assert.match(e.message, c.error);
        assert.ok(e.message.startsWith(`${file}: `) && !e.message.includes("\n"), e.message);
        return true;
      });
    });
  }
});
