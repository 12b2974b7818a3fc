/**
 * Measures decode speed on onnxruntime-node (CPU) of the qwen2-0.5b preset
 * (bf16 checkpoint, random weights) exported primitive, fused, and fused and
 * quantized:
 *
 *     node packages/export/dist/passes/measure.js [--steps 32] [--only fused,fused+int4 acc4,...]
 *
 * Each variant is traced, passed and written in a child process of its own,
 * which then prefills a 32-token prompt and decodes `steps` tokens greedily
 * (batch 1, presents fed back as the next past, one logit row kept). Prints
 * one line of JSON per variant: the median and mean ms per decoded token,
 * prefill ms, the model's size, export seconds, the child's peak RSS, and
 * for how many decoded tokens its greedy choices stay those of f32.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { openModelWeights, readDecoderConfig } from "@oar/modeling";
import type { QuantType } from "../inference-dir/manifest.js";
import { writeModel } from "../onnx/write.js";
import { type Pipeline, runPipelines } from "../rewrite/manager.js";
import { traceDecoder } from "../trace/trace.js";
import { cleanupPipeline } from "./cleanup.js";
import { fusionPipelines } from "./fusion/index.js";
import { type QuantizationOptions, quantizationPipelines } from "./quant/index.js";

interface Variant {
  readonly name: string;
  readonly fuse: boolean;
  readonly quant: QuantType | null;
  readonly options?: QuantizationOptions;
}

const VARIANTS: readonly Variant[] = [
  { name: "unfused", fuse: false, quant: null },
  { name: "fused", fuse: true, quant: null },
  { name: "fused+int8", fuse: true, quant: "weight_only_int8", options: { accuracyLevel: 0 } },
  { name: "fused+int8 acc4", fuse: true, quant: "weight_only_int8", options: { accuracyLevel: 4 } },
  { name: "fused+int4", fuse: true, quant: "weight_only_int4", options: { accuracyLevel: 0 } },
  { name: "fused+int4 acc4", fuse: true, quant: "weight_only_int4", options: { accuracyLevel: 4 } },
  { name: "fused+int4 acc4 f32-embedding", fuse: true, quant: "weight_only_int4", options: { accuracyLevel: 4, embeddingMinBytes: Number.MAX_SAFE_INTEGER } },
  { name: "fused+a8w8", fuse: true, quant: "a8w8" },
  { name: "unfused+int4 acc4", fuse: false, quant: "weight_only_int4", options: { accuracyLevel: 4 } },
];

const PROMPT = 32;
const CHILD = "--child";

function i64(values: readonly number[], dims: readonly number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(values, (x) => BigInt(x)), [...dims]);
}

async function child(modelDir: string, variant: Variant, steps: number): Promise<void> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "oar-measure-passes-"));
  try {
    const started = performance.now();
    const config = readDecoderConfig(modelDir);
    const checkpoint = openModelWeights(modelDir, config).source;
    const graph = traceDecoder({ config, checkpoint, where: modelDir });
    const pipelines: Pipeline[] = [cleanupPipeline()];
    if (variant.fuse) pipelines.push(...fusionPipelines({ maxPositions: config.maxPositions }));
    if (variant.quant !== null) pipelines.push(...quantizationPipelines(variant.quant, variant.options));
    runPipelines(graph, pipelines);
    const written = writeModel(graph, out, { externalData: "always" });
    checkpoint.close();
    const exportSeconds = (performance.now() - started) / 1000;
    const bytes = fs.statSync(written.modelPath).size + (written.dataPath === null ? 0 : fs.statSync(written.dataPath).size);

    const session = await ort.InferenceSession.create(written.modelPath, { executionProviders: ["cpu"], logSeverityLevel: 3 });
    const { numLayers, numKvHeads, headDim, vocabSize } = config;
    let past: Record<string, ort.Tensor> = {};
    for (let l = 0; l < numLayers; l++) {
      for (const kind of ["key", "value"]) past[`past_key_values.${l}.${kind}`] = new ort.Tensor("float32", new Float32Array(0), [1, numKvHeads, 0, headDim]);
    }
    let ids = Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 17) % vocabSize);
    let total = 0;
    const times: number[] = [];
    const tokens: number[] = [];
    let prefillMs = 0;
    for (let step = 0; step <= steps; step++) {
      const n = ids.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: i64(ids, [1, n]),
        attention_mask: i64(new Array<number>(total + n).fill(1), [1, total + n]),
        position_ids: i64(ids.map((_, i) => total + i), [1, n]),
        num_logits_to_keep: i64([1], []),
        ...past,
      };
      const t0 = performance.now();
      const result = await session.run(feeds);
      const ms = performance.now() - t0;
      if (step === 0) prefillMs = ms;
      else times.push(ms);
      const logits = result["logits"]!.data as Float32Array;
      let best = 0;
      for (let i = 1; i < vocabSize; i++) if (logits[i]! > logits[best]!) best = i;
      past = {};
      for (let l = 0; l < numLayers; l++) {
        for (const kind of ["key", "value"]) past[`past_key_values.${l}.${kind}`] = result[`present.${l}.${kind}`]!;
      }
      total += n;
      tokens.push(best);
      ids = [best];
    }
    await session.release();
    const sorted = [...times].sort((a, b) => a - b);
    process.stdout.write(
      `${JSON.stringify({
        variant: variant.name,
        decode_ms_per_token_median: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(2)),
        decode_ms_per_token_mean: Number((times.reduce((s, t) => s + t, 0) / times.length).toFixed(2)),
        prefill_ms: Number(prefillMs.toFixed(1)),
        model_mib: Math.round(bytes / 2 ** 20),
        export_seconds: Number(exportSeconds.toFixed(1)),
        peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
        tokens,
      })}\n`,
    );
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** One child's line. */
interface Measured {
  readonly variant: string;
  readonly tokens: readonly number[];
}

function parent(steps: number, only: readonly string[] | null): void {
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "qwen2-0.5b", dtype: "bf16" });
  const chosen = only === null ? VARIANTS : VARIANTS.filter((v) => only.includes(v.name));
  if (chosen.length === 0) throw new Error(`--only names none of the variants: ${VARIANTS.map((v) => v.name).join(", ")}`);
  // Greedy tokens are compared with the first f32 variant measured (random weights: a rough indication only).
  let reference: readonly number[] | null = null;
  for (const v of chosen) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), CHILD, modelDir, v.name, String(steps)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (r.status !== 0) throw new Error(`variant ${v.name} failed (exit ${r.status})`);
    const { tokens, ...rest } = JSON.parse(r.stdout) as Measured & Record<string, unknown>;
    if (reference === null && v.quant === null) reference = tokens;
    const same = reference === null ? null : tokens.findIndex((t, i) => t !== reference![i]);
    process.stdout.write(`${JSON.stringify({ ...rest, same_greedy_tokens_as_f32: same === null ? null : same < 0 ? tokens.length : same })}\n`);
  }
}

const args = process.argv.slice(2);
if (args[0] === CHILD) {
  const variant = VARIANTS.find((v) => v.name === args[2]);
  if (variant === undefined) throw new Error(`no variant ${args[2]}`);
  await child(args[1]!, variant, Number(args[3]));
} else {
  const flag = (name: string) => {
    const at = args.indexOf(name);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const steps = Number(flag("--steps") ?? 32);
  if (!Number.isSafeInteger(steps) || steps < 2) throw new Error(`--steps must be an integer of at least 2, got ${flag("--steps")}`);
  parent(steps, flag("--only")?.split(",") ?? null);
}
