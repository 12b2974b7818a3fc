/**
 * Export: trace a checkpoint into an ONNX graph, fuse it and quantize its
 * weights to int8, and write an inference directory that static mode runs.
 *
 *   node examples/dist/export.js [checkpoint-dir] [output-dir]
 */
import * as os from "node:os";
import * as path from "node:path";
import { exportModel } from "@oar/export";
import { cachedTinyModel } from "@oar/make-tiny-model";

const modelDir = process.argv[2] || cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
const outputDir = process.argv[3] ?? path.join(os.tmpdir(), "oar-example-inference");

const report = await exportModel({
  modelDir,
  outputDir,
  inferenceModel: true, // fusion passes: SkipSimplifiedLayerNormalization, RotaryEmbedding, merged QKV...
  quantType: "weight_only_int8", // MatMulNBits with 8-bit blocks
  overwrite: true,
});
for (const pipeline of report.pipelines) {
  const fired = pipeline.passes.filter((p) => p.fired > 0).map((p) => `${p.pass} x${p.fired}`);
  console.log(`${pipeline.pipeline}: ${fired.join(", ") || "nothing to do"}`);
}
console.log(`wrote ${report.outputDir} in ${report.seconds.toFixed(1)} s`);
