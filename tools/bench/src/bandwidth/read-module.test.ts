import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STEP_BYTES, STREAMS, readModuleBytes } from "./read-module.js";
import { instantiateRead, wasm } from "./wasm.js";

describe("the bandwidth probe's read module", () => {
  it("ORs every 16-byte vector of its regions, every pass, into lane 0 of its result", () => {
    const stream = 2 * STEP_BYTES;
    const memory = new wasm.Memory({ initial: 1, maximum: 1, shared: true });
    const words = new Int32Array(memory.buffer);
    // Vector v gets bit v % 32 in lane 0, and all ones in lane 1, which must not leak into lane 0.
    for (let v = 0; v < 4 * STREAMS * (stream / 16); v++) {
      words[v * 4] = 1 << v % 32;
      words[v * 4 + 1] = -1;
    }
    const { read } = instantiateRead(new wasm.Module(readModuleBytes(stream)), memory);
    const vectors = (STREAMS * stream) / 16;
    const bits = (from: number) => Array.from({ length: vectors }, (_, i) => 1 << (from + i) % 32).reduce((a, b) => a | b, 0);
    assert.equal(read(0, stream, 1), bits(0));
    assert.equal(read(STREAMS * stream, STREAMS * stream + stream, 3), bits(vectors));
  });

  it("refuses regions that are not whole steps", () => {
    assert.throws(() => readModuleBytes(STEP_BYTES + 1), /multiple of/);
  });
});
