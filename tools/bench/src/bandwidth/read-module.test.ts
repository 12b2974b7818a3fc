import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { STEP_BYTES, readModuleBytes } from "./read-module.js";
import { instantiateRead, wasm } from "./wasm.js";

describe("the bandwidth probe's read module", () => {
  const module = new wasm.Module(readModuleBytes());

  it("ORs every 16-byte vector of [start, end), every pass, into lane 0 of its result", () => {
    const memory = new wasm.Memory({ initial: 1, maximum: 1, shared: true });
    const words = new Int32Array(memory.buffer);
    const { read } = instantiateRead(module, memory);
    // One bit per 16-byte vector, in lane 0; lanes 1-3 set too, and must not leak into lane 0.
    for (let v = 0; v < 4 * (STEP_BYTES / 16); v++) {
      words[v * 4] = 1 << v % 31;
      words[v * 4 + 1] = -1;
    }
    const oneStep = (1 << (STEP_BYTES / 16)) - 1;
    assert.equal(read(0, STEP_BYTES, 1), oneStep);
    assert.equal(read(0, 4 * STEP_BYTES, 3), (2 ** 31 - 1) | 0);
    assert.equal(read(STEP_BYTES, 2 * STEP_BYTES, 1), oneStep << (STEP_BYTES / 16));
  });
});
