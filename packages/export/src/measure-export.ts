/**
 * Measures the memory and time of exporting the qwen2-0.5b preset (bf16
 * checkpoint, random weights) to an inference directory (f32 by default):
 *
 *     node packages/export/dist/measure-export.js [--dtype float32|float16|bfloat16] [--inference_model] [--quant_type weight_only_int8|weight_only_int4|a8w8]
 *
 * The checkpoint is made (or found in the cache) first; the export then runs
 * in a child process of its own, so its peak resident set size is the
 * export's alone. Prints one line of JSON.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { exportModel } from "./export.js";
import type { ExportDType, QuantType } from "./inference-dir/manifest.js";

const CHILD = "--child";

interface Run {
  readonly dtype: ExportDType;
  readonly inferenceModel: boolean;
  readonly quantType: QuantType | null;
}

async function child(modelDir: string, run: Run): Promise<void> {
  const outputDir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-measure-export-"));
  try {
    const report = await exportModel({ modelDir, outputDir, ...run, overwrite: true });
    const usage = process.resourceUsage();
    process.stdout.write(
      `${JSON.stringify({
        seconds: Number(report.seconds.toFixed(2)),
        peak_rss_mib: Math.round(usage.maxRSS / 1024),
        weight_mib: Math.round(report.manifest.graph.weight_bytes / 2 ** 20),
        files: Object.fromEntries(report.files.map((f) => [f.name, f.bytes])),
      })}\n`,
    );
  } finally {
    fs.rmSync(outputDir, { recursive: true, force: true });
  }
}

function parent(run: Run): void {
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "qwen2-0.5b", dtype: "bf16" });
  const checkpointBytes = fs.statSync(path.join(modelDir, "model.safetensors")).size;
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), CHILD, modelDir, JSON.stringify(run)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error(`the export failed (exit ${r.status})`);
  const result = JSON.parse(r.stdout) as { peak_rss_mib: number; weight_mib: number };
  process.stdout.write(
    `${JSON.stringify({
      model: "qwen2-0.5b preset (bf16 checkpoint)",
      dtype: run.dtype,
      inference_model: run.inferenceModel,
      quant_type: run.quantType,
      checkpoint_mib: Math.round(checkpointBytes / 2 ** 20),
      ...result,
      peak_rss_over_weights: Number((result.peak_rss_mib / result.weight_mib).toFixed(2)),
    })}\n`,
  );
}

const args = process.argv.slice(2);
if (args[0] === CHILD) {
  await child(args[1]!, JSON.parse(args[2]!) as Run);
} else {
  const flag = (name: string): string | null => {
    const at = args.indexOf(name);
    return at >= 0 ? (args[at + 1] ?? null) : null;
  };
  parent({
    dtype: (flag("--dtype") ?? "float32") as ExportDType,
    inferenceModel: args.includes("--inference_model"),
    quantType: flag("--quant_type") as QuantType | null,
  });
}
