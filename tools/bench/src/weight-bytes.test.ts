import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { exportModel } from "@oar/export";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { eagerWeightBytesPerToken, graphWeightBytesPerToken } from "./weight-bytes.js";

describe("weight bytes per decoded token", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-bench-weights-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });

  it("an f32 graph, fused or not, reads what the eager f32 model holds (the tied embedding once)", async () => {
    const eager = eagerWeightBytesPerToken(modelDir, "f32");
    for (const fused of [false, true]) {
      const out = path.join(root, `f32-${fused}`);
      await exportModel({ modelDir, outputDir: out, inferenceModel: fused });
      const graph = graphWeightBytesPerToken(out);
      // The graph's rotary tables and masks are extra small constants: within 1%.
      assert.ok(Math.abs(graph - eager) / eager < 0.01, `fused=${fused}: graph ${graph} vs eager ${eager}`);
    }
  });

  it("int8 reads a little over a quarter of f32; q8 storage about the same", async () => {
    const out = path.join(root, "int8");
    await exportModel({ modelDir, outputDir: out, inferenceModel: true, quantType: "weight_only_int8" });
    const f32 = eagerWeightBytesPerToken(modelDir, "f32");
    for (const bytes of [graphWeightBytesPerToken(out), eagerWeightBytesPerToken(modelDir, "q8")]) {
      assert.ok(bytes > f32 * 0.25 && bytes < f32 * 0.3, `${bytes} of ${f32}`);
    }
  });
});
