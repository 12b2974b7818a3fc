import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatBytes } from "./report.js";

describe("formatBytes", () => {
  it("uses the largest binary unit below the size", () => {
    assert.equal(formatBytes(614), "614 B");
    assert.equal(formatBytes(5734), "5.6 KiB");
    assert.equal(formatBytes(78_118_912), "74.5 MiB");
    assert.equal(formatBytes(3 * 2 ** 30), "3.0 GiB");
  });
});
