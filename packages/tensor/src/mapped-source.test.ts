import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { mapTensors } from "./mapped-source.js";
import { openSafetensors, writeSafetensors } from "./safetensors.js";
import { tensor } from "./tensor.js";

let dir: string;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-mapped-"));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("mapTensors", () => {
  it("shows tensors under new names, matrices transposed where asked, and hides the rest", () => {
    const file = path.join(dir, "m.safetensors");
    writeSafetensors(file, {
      "qwen2.w": tensor("f32", [2, 3], new Float32Array([1, 2, 3, 4, 5, 6])),
      "qwen2.h": tensor("bf16", [3, 2], new Uint16Array([1, 2, 3, 4, 5, 6])),
      "qwen2.v": tensor("f32", [2], new Float32Array([7, 8])),
      "other": tensor("f32", [1], new Float32Array([0])),
    });
    const src = mapTensors(
      openSafetensors(file),
      new Map([
        ["model.w", { from: "qwen2.w", transpose: true }],
        ["model.h", { from: "qwen2.h", transpose: true }],
        ["model.v", { from: "qwen2.v", transpose: false }],
      ]),
      `${file} (mapped)`,
    );
    try {
      assert.deepEqual(src.names, ["model.h", "model.v", "model.w"]);
      assert.equal(src.format, "safetensors");
      assert.deepEqual(src.info("model.w").shape, [3, 2]);
      assert.deepEqual([...src.read("model.w").data], [1, 4, 2, 5, 3, 6]);
      assert.deepEqual([...src.read("model.h").data], [1, 3, 5, 2, 4, 6]);
      assert.deepEqual([...src.read("model.v").data], [7, 8]);
      const row = new Uint8Array(8);
      src.readRange("model.w", 8, row);
      assert.deepEqual([...new Float32Array(row.buffer)], [2, 5]);
      assert.throws(() => src.info("other"), /\(mapped\): no tensor named "other"/);
    } finally {
      src.close();
    }
    assert.throws(() => src.read("model.v"), /read after close\(\)/);
  });

  it("refuses to transpose what is not a matrix", () => {
    const file = path.join(dir, "v.safetensors");
    writeSafetensors(file, { v: tensor("f32", [2], new Float32Array([1, 2])) });
    const s = openSafetensors(file);
    assert.throws(() => mapTensors(s, new Map([["x", { from: "v", transpose: true }]]), file), /tensor "v" has shape \[2\]; only a matrix can be read transposed/);
    s.close();
  });
});
