import assert from "node:assert/strict";
import * as path from "node:path";
import { describe, it } from "node:test";
import { openCheckpoint } from "./checkpoint.js";
import { openPytorch } from "./pytorch.js";
import type { TensorSource } from "./tensor-source.js";
import { GOLDENS, type Golden, expected, sha256 } from "./testing/goldens.js";

/** Every tensor of `golden` read through `src` has the bytes torch holds (its sha256 in expected.json). */
function matchesGolden(src: TensorSource, golden: Golden): void {
  assert.deepEqual(src.names, Object.keys(golden.tensors).sort());
  for (const [name, want] of Object.entries(golden.tensors)) {
    const info = src.info(name);
    assert.equal(info.dtype, want.dtype, name);
    assert.deepEqual(info.shape, want.shape, name);
    const bytes = new Uint8Array(info.byteLength);
    src.readInto(name, bytes);
    assert.equal(sha256(bytes), want.sha256, name);
  }
}

describe("torch.save files (real torch 2.x output)", () => {
  const { goldens } = expected();

  it("reads views into shared storages, a non-contiguous tensor and tied weights", () => {
    const src = openPytorch(path.join(GOLDENS, "qwen2-pytorch", "pytorch_model.bin"));
    try {
      assert.equal(src.format, "pytorch");
      matchesGolden(src, goldens["qwen2-pytorch"]!);
      // q, k and v are slices of one storage: consecutive offsets into the same zip entry.
      const [q, k, v] = ["q", "k", "v"].map((x) => src.info(`model.layers.0.self_attn.${x}_proj.weight`));
      assert.equal(k!.byteOffset, q!.byteOffset + q!.byteLength);
      assert.equal(v!.byteOffset, k!.byteOffset + k!.byteLength);
      // lm_head is tied to the embedding: the same storage at the same place.
      assert.equal(src.info("lm_head.weight").byteOffset, src.info("model.embed_tokens.weight").byteOffset);
      // A block of rows of the transposed (non-contiguous) down_proj is those rows of the whole.
      const name = "model.layers.1.mlp.down_proj.weight";
      const whole = src.read(name).data as Float32Array;
      const [rows, cols] = src.info(name).shape as [number, number];
      const part = new Uint8Array(3 * cols * 4);
      src.readRange(name, 5 * cols * 4, part);
      assert.deepEqual(new Float32Array(part.buffer), whole.subarray(5 * cols, 8 * cols));
      assert.ok(rows > 8);
    } finally {
      src.close();
    }
  });

  it("reads shards through pytorch_model.bin.index.json", () => {
    const src = openCheckpoint(path.join(GOLDENS, "llama-pytorch-sharded"));
    try {
      assert.equal(src.format, "pytorch");
      assert.equal(src.index, path.join(GOLDENS, "llama-pytorch-sharded", "pytorch_model.bin.index.json"));
      matchesGolden(src, goldens["llama-pytorch-sharded"]!);
      assert.match(src.metadata["total_size"]!, /^\d+$/);
    } finally {
      src.close();
    }
  });
});

export { matchesGolden };
