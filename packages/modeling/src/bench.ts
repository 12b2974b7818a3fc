/**
 * Dynamic-mode speed on the qwen2-0.5b preset: prefill of a 64-token prompt
 * and greedy decode with EOS ignored, per weight storage, medians of several
 * runs; then decode with a long context (the cache filled to 512 and 1024
 * positions); peak resident memory per storage (each in its own process).
 *
 *   npm run bench -w @oar/modeling [-- --runs 5 --tokens 32 --storage f32,bf16,q8,q8-32 --contexts 512,1024]
 *
 * Storages: f32, bf16, f16, q8 (int8, one scale per output channel: what
 * `predictor --quant_type weight_only_int8` uses), q8-32 (int8, one scale per
 * 32 inputs). `--contexts ""` skips the long-context part.
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadEagerModel } from "./eager/model.js";
import type { WeightStorage } from "./eager/load-weights.js";
import { argmax } from "@oar/tensor";

interface Result {
  storage: string;
  loadS: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  /** Decode tokens/s (median per-token time) with the cache holding about this many positions. */
  longContext: { positions: number; decodeTokensPerS: number }[];
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
      return { format: "q8", blockSize: "channel" };
    case "q8-32":
      return { format: "q8", blockSize: 32 };
    default:
      throw new Error(`--storage: unknown storage ${name} (f32, bf16, f16, q8, q8-32)`);
  }
}

const PROMPT = Array.from({ length: 64 }, (_, i) => 1000 + ((i * 7919) % 50000));
/** A long context is filled by prefill steps of this many tokens. */
const FILL_CHUNK = 128;

/** One storage, in this process: load, `runs` x (prefill 64 + decode `tokens`), then decode at each of `contexts` (ascending). */
async function measure(dir: string, storage: string, runs: number, tokens: number, contexts: readonly number[]): Promise<Result> {
  const t0 = performance.now();
  const maxPositions = Math.max(PROMPT.length, ...contexts) + tokens;
  const model = await loadEagerModel(dir, { storage: storageOf(storage), maxPositions });
  const loadS = (performance.now() - t0) / 1000;
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < runs + 1; r++) {
    const seq = model.createSequence();
    let t = performance.now();
    let [logits] = await model.forward([{ seq, tokens: PROMPT }]);
    const pMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < tokens; i++) [logits] = await model.forward([{ seq, tokens: [argmax(logits!)] }]);
    const dMs = performance.now() - t;
    model.releaseSequence(seq);
    if (r === 0) continue; // warm-up
    prefill.push((PROMPT.length * 1000) / pMs);
    decode.push((tokens * 1000) / dMs);
  }
  const longContext: Result["longContext"] = [];
  const seq = model.createSequence();
  let length = 0;
  let logits: Float32Array | undefined;
  for (const positions of contexts) {
    while (length < positions) {
      const n = Math.min(FILL_CHUNK, positions - length);
      [logits] = await model.forward([{ seq, tokens: Array.from({ length: n }, (_, i) => PROMPT[(length + i) % PROMPT.length]!) }]);
      length += n;
    }
    const times: number[] = [];
    for (let i = 0; i < tokens; i++) {
      const t = performance.now();
      [logits] = await model.forward([{ seq, tokens: [argmax(logits!)] }]);
      times.push(performance.now() - t);
    }
    length += tokens;
    longContext.push({ positions, decodeTokensPerS: 1000 / median(times) });
  }
  model.releaseSequence(seq);
  await model.dispose();
  return {
    storage,
    loadS,
    prefillTokensPerS: median(prefill),
    decodeTokensPerS: median(decode),
    longContext,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const runs = Number(arg("runs", "5"));
  const tokens = Number(arg("tokens", "32"));
  const contextsArg = arg("contexts", "512,1024");
  const contexts = contextsArg === "" ? [] : contextsArg.split(",").map(Number).sort((a, b) => a - b);
  if (contexts.some((c) => !Number.isSafeInteger(c) || c < 1)) throw new Error(`--contexts: positive integers separated by commas, got "${contextsArg}"`);
  const child = process.argv.includes("--child");
  const dir = cachedTinyModel({ arch: "qwen2", preset: "qwen2-0.5b", dtype: "bf16" });
  if (child) {
    const r = await measure(dir, arg("storage", "f32"), runs, tokens, contexts);
    process.stdout.write(JSON.stringify(r) + "\n");
    return;
  }
  const loadBefore = loadavg()[0]!;
  const results: Result[] = [];
  for (const storage of arg("storage", "f32,bf16,q8,q8-32").split(",")) {
    const args = ["--child", "--storage", storage, "--runs", String(runs), "--tokens", String(tokens), "--contexts", contexts.join(",")];
    const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    if (out.status !== 0) throw new Error(`bench child for ${storage} failed (exit ${out.status})`);
    results.push(JSON.parse(out.stdout.trim().split("\n").pop()!) as Result);
  }
  console.log("dynamic mode, qwen2-0.5b preset (random weights), 64-token prompt, greedy, EOS ignored");
  console.log(`medians of ${runs} runs after a warm-up, ${tokens} decoded tokens per run; long context: median of ${tokens} decode steps`);
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`);
  const long = contexts.map((c) => ` decode tok/s at ${c} |`).join("");
  console.log(`| storage | load s | prefill tok/s | decode tok/s |${long} peak RSS MB |`);
  console.log(`| --- | --- | --- | --- |${contexts.map(() => " --- |").join("")} --- |`);
  for (const r of results) {
    const longCells = r.longContext.map((l) => ` ${l.decodeTokensPerS.toFixed(1)} |`).join("");
    console.log(`| ${r.storage} | ${r.loadS.toFixed(1)} | ${r.prefillTokensPerS.toFixed(1)} | ${r.decodeTokensPerS.toFixed(1)} |${longCells} ${r.peakRssMB.toFixed(0)} |`);
  }
  console.log(JSON.stringify(results));
}

await main();
