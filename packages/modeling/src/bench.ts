/**
 * Dynamic-mode speed on the qwen2-0.5b preset: prefill of a 64-token prompt
 * and greedy decode with EOS ignored, per weight storage, medians of several
 * runs; peak resident memory per storage (each in its own process).
 *
 *   npm run bench -w @oar/modeling [-- --runs 5 --tokens 32 --storage f32,bf16,q8]
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadEagerModel } from "./eager/model.js";
import type { WeightStorage } from "./eager/load-weights.js";
import { argmax } from "./testing/compare.js";

interface Result {
  storage: string;
  loadS: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  peakRssMB: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function storageOf(name: string): WeightStorage {
  switch (name) {
    case "f32":
    case "bf16":
    case "f16":
      return { format: name };
    case "q8":
      return { format: "q8", blockSize: 32 };
    default:
      throw new Error(`--storage: unknown storage ${name} (f32, bf16, f16, q8)`);
  }
}

/** One storage, in this process: load, then `runs` x (prefill 64 + decode `tokens`). */
async function measure(dir: string, storage: string, runs: number, tokens: number): Promise<Result> {
  const t0 = performance.now();
  const model = await loadEagerModel(dir, { storage: storageOf(storage), maxPositions: 1024 });
  const loadS = (performance.now() - t0) / 1000;
  const prompt = Array.from({ length: 64 }, (_, i) => 1000 + ((i * 7919) % 50000));
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < runs + 1; r++) {
    const seq = model.createSequence();
    let t = performance.now();
    let [logits] = await model.forward([{ seq, tokens: prompt }]);
    const pMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < tokens; i++) [logits] = await model.forward([{ seq, tokens: [argmax(logits!)] }]);
    const dMs = performance.now() - t;
    model.releaseSequence(seq);
    if (r === 0) continue; // warm-up
    prefill.push((prompt.length * 1000) / pMs);
    decode.push((tokens * 1000) / dMs);
  }
  await model.dispose();
  return {
    storage,
    loadS,
    prefillTokensPerS: median(prefill),
    decodeTokensPerS: median(decode),
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const runs = Number(arg("runs", "5"));
  const tokens = Number(arg("tokens", "32"));
  const child = process.argv.includes("--child");
  const dir = cachedTinyModel({ arch: "qwen2", preset: "qwen2-0.5b", dtype: "bf16" });
  if (child) {
    const r = await measure(dir, arg("storage", "f32"), runs, tokens);
    process.stdout.write(JSON.stringify(r) + "\n");
    return;
  }
  const results: Result[] = [];
  for (const storage of arg("storage", "f32,bf16,q8").split(",")) {
    const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--child", "--storage", storage, "--runs", String(runs), "--tokens", String(tokens)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (out.status !== 0) throw new Error(`bench child for ${storage} failed (exit ${out.status})`);
    results.push(JSON.parse(out.stdout.trim().split("\n").pop()!) as Result);
  }
  console.log("dynamic mode, qwen2-0.5b preset (random weights), 64-token prompt, greedy, EOS ignored");
  console.log(`medians of ${runs} runs after a warm-up, ${tokens} decoded tokens per run`);
  console.log("| storage | load s | prefill tok/s | decode tok/s | peak RSS MB |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of results) {
    console.log(`| ${r.storage} | ${r.loadS.toFixed(1)} | ${r.prefillTokensPerS.toFixed(1)} | ${r.decodeTokensPerS.toFixed(1)} | ${r.peakRssMB.toFixed(0)} |`);
  }
  console.log(JSON.stringify(results));
}

await main();
