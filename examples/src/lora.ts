/**
 * LoRA: apply an adapter to a checkpoint in dynamic mode, merged into the
 * weights at load and kept apart (x W + s (x A) B); both give the same logits.
 *
 *   node examples/dist/lora.js [checkpoint-dir] [adapter-dir]
 *
 * Without directories it makes a tiny checkpoint and a random PEFT adapter for it.
 */
import * as os from "node:os";
import * as path from "node:path";
import { makeLora } from "@oar/make-adapter";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadAdapters, loadEagerModel, mergeLora, readDecoderConfig, unmergedLora } from "@oar/modeling";

const modelDir = process.argv[2] ?? cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
let adapterDir = process.argv[3];
if (adapterDir === undefined) {
  adapterDir = path.join(os.tmpdir(), "oar-example-lora");
  makeLora({ modelDir, outDir: adapterDir, format: "peft", rank: 4, seed: 1, overwrite: true });
}

const adapters = loadAdapters([adapterDir], readDecoderConfig(modelDir));
const prompt = [9707, 11, 1879, 0];

/** The logits of the prompt's last position under one way of applying the adapter. */
async function lastLogits(options: Parameters<typeof loadEagerModel>[1]): Promise<Float32Array> {
  const model = await loadEagerModel(modelDir, options);
  try {
    const seq = model.createSequence();
    const [logits] = await model.forward([{ seq, tokens: prompt }]);
    return logits!;
  } finally {
    await model.dispose();
  }
}

const base = await lastLogits({ storage: { format: "f32" } });
const merged = await lastLogits({ storage: { format: "f32" }, edit: mergeLora(adapters.lora) });
const apart = await lastLogits({ storage: { format: "f32" }, unmergedLora: unmergedLora(adapters.lora) });

const diff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
console.log(`${adapters.lora.length} LoRA layers from ${adapterDir}`);
console.log(`adapter moves the logits by up to ${diff(merged, base).toFixed(3)}`);
console.log(`merged vs unmerged differ by at most ${diff(merged, apart).toExponential(1)}`);
