/**
 * Kernel benchmark: `node dist/kernels/bench.js` (or `npm run bench -w @oar/tensor`).
 *
 * For each weight format, on the Qwen2-0.5B shapes 151936x896 (tied lm_head),
 * 4864x896 (gate/up) and 896x4864 (down), at M = 1 (decode) and M = 64
 * (prefill), on 1 and 2 threads: the median time of several runs, the weight
 * bytes streamed per second and the GFLOP/s (2 M N K per call), against a
 * plain JavaScript loop over the same f32 matrix measured in the same run.
 * The machine may be shared: every figure is a median, printed with the
 * fastest and slowest run so that noise shows.
 *
 * Then a whole Qwen2-0.5B forward pass of matmuls per format, the cost of a
 * call, accuracy, and attention over a KV cache in the pool's memory (24
 * layers of Qwen2-0.5B's 14 query and 2 KV heads of 64) against the
 * TypeScript reference.
 *
 * Flags: --threads=1,2  --shapes=lm_head,gate_up,down  --runs=7
 *        --parts=matmul,model,overhead,accuracy,attention (default: all)
 */
import { availableParallelism, loadavg } from "node:os";
import { f32ArrayToBf16, f32ArrayToF16 } from "../convert.js";
import { type AttentionSequence, attentionReference } from "./attention.js";
import type { WeightFormat } from "./format.js";
import { type ComputePool, type DeviceWeight, createComputePool } from "./pool.js";
import { rng } from "./testing.js";

interface Shape {
  name: string;
  n: number;
  k: number;
}

const SHAPES: Shape[] = [
  { name: "lm_head", n: 151936, k: 896 },
  { name: "gate_up", n: 4864, k: 896 },
  { name: "down", n: 896, k: 4864 },
];
const FORMATS: WeightFormat[] = ["f32", "bf16", "f16", "q8"];
const MS = [1, 64];

function flag(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

const threadCounts = (flag("threads") ?? `1,${Math.min(2, availableParallelism())}`).split(",").map(Number);
const shapes = SHAPES.filter((s) => (flag("shapes") ?? SHAPES.map((x) => x.name).join(",")).split(",").includes(s.name));
const runs = Number(flag("runs") ?? 7);
const PARTS = ["matmul", "model", "overhead", "accuracy", "attention"];
const parts = (flag("parts") ?? PARTS.join(",")).split(",");
for (const p of parts) if (!PARTS.includes(p)) throw new Error(`--parts: unknown part ${p} (${PARTS.join(", ")})`);

/** Weights like a trained model's: roughly N(0, 0.02), so f16 has its share of subnormals. */
function weightValues(n: number, seed: number): Float32Array {
  const random = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() + random() + random() - 1.5) * 0.04;
  return out;
}

function place(pool: ComputePool, format: WeightFormat, shape: Shape, values: Float32Array): DeviceWeight {
  const { n, k } = shape;
  if (format === "q8") return pool.quantizeWeight(n, k, 32, (r, out) => out.set(values.subarray(r * k, (r + 1) * k)));
  return pool.allocWeight({ format, rows: n, cols: k }, ({ data }) => {
    if (format === "f32") {
      data.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return;
    }
    const bits = new Uint16Array(data.buffer, data.byteOffset, n * k);
    if (format === "bf16") f32ArrayToBf16(values, bits);
    else f32ArrayToF16(values, bits);
  });
}

interface Timing {
  median: number; // ms
  min: number;
  max: number;
}

/** Runs `body` once to warm up (the wasm tier-up happens in the first calls), then `count` timed times. */
function time(count: number, body: () => void): Timing {
  body();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    body();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times[times.length - 1]! };
}

/** out[m, n] = x[m, k] · Wᵀ with W f32 [n, k]: the loop one writes without SIMD or threads. */
function jsMatmul(x: Float32Array, m: number, w: Float32Array, n: number, k: number, out: Float32Array): void {
  for (let j = 0; j < n; j++) {
    const row = j * k;
    for (let i = 0; i < m; i++) {
      const xi = i * k;
      let sum = 0;
      for (let e = 0; e < k; e++) sum += x[xi + e]! * w[row + e]!;
      out[i * n + j] = sum;
    }
  }
}

interface Row {
  shape: string;
  m: number;
  format: string;
  threads: number;
  timing: Timing;
  bytes: number;
  flops: number;
  js?: number; // ms of the JS loop for the same shape and M
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

async function main(): Promise<void> {
  console.log(`# Oar kernel benchmark (node ${process.version}, ${availableParallelism()} CPUs, medians of ${runs} runs)`);
  // Other processes on the machine show here: a load near the CPU count means the runs shared the cores.
  console.log(`load average at start: ${loadavg()[0]!.toFixed(2)}`);
  const run: Record<string, () => Promise<void>> = { matmul: matmuls, model: modelStep, overhead, accuracy, attention };
  for (const part of PARTS.filter((p) => parts.includes(p))) {
    console.log("");
    await run[part]!();
  }
  console.log("");
  console.log(`load average at end: ${loadavg()[0]!.toFixed(2)}`);
}

/** Each shape, format, M and thread count, against the JS loop. */
async function matmuls(): Promise<void> {
  const rows: Row[] = [];
  const js = new Map<string, number>();
  for (const shape of shapes) {
    const values = weightValues(shape.n * shape.k, 7);
    for (const m of MS) {
      const x = weightValues(m * shape.k, 8).map((v) => v * 25);
      const out = new Float32Array(m * shape.n);
      // The JS loop does M x N x K multiply-adds at ~1 GFLOP/s: at M = 64 on lm_head that is minutes.
      if (m === 1 || shape.n * shape.k <= 5_000_000) {
        const t = time(Math.min(runs, m === 1 ? runs : 3), () => jsMatmul(x, m, values, shape.n, shape.k, out));
        js.set(`${shape.name}/${m}`, t.median);
        rows.push({ shape: shape.name, m, format: "f32 (JS loop)", threads: 1, timing: t, bytes: values.byteLength, flops: 2 * m * shape.n * shape.k });
        console.error(`  js ${shape.name} m=${m}: ${fmt(t.median)} ms`);
      }
    }
    for (const threads of threadCounts) {
      const pool = await createComputePool({ threads });
      try {
        for (const format of FORMATS) {
          const w = place(pool, format, shape, values);
          for (const m of MS) {
            const x = weightValues(m * shape.k, 8).map((v) => v * 25);
            const out = new Float32Array(m * shape.n);
            const timing = time(m === 1 ? runs : Math.max(5, Math.ceil(runs / 2)), () => pool.matmul(x, m, w, out));
            const row: Row = { shape: shape.name, m, format, threads, timing, bytes: w.bytes, flops: 2 * m * shape.n * shape.k };
            const base = js.get(`${shape.name}/${m}`);
            if (base !== undefined) row.js = base;
            rows.push(row);
            console.error(`  ${format} ${shape.name} m=${m} threads=${threads}: ${fmt(timing.median)} ms`);
          }
        }
      } finally {
        await pool.dispose();
      }
    }
  }

  console.log("");
  console.log("| shape (N x K) | M | format | threads | ms (min-max) | weight GB/s | GFLOP/s | vs JS loop |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const shape = SHAPES.find((s) => s.name === r.shape)!;
    const t = r.timing;
    const cells = [
      `${r.shape} ${shape.n}x${shape.k}`,
      String(r.m),
      r.format,
      String(r.threads),
      `${fmt(t.median, 2)} (${fmt(t.min, 2)}-${fmt(t.max, 2)})`,
      fmt(r.bytes / t.median / 1e6),
      fmt(r.flops / t.median / 1e6),
      r.js === undefined ? "" : `${fmt(r.js / t.median)}x`,
    ];
    console.log(`| ${cells.join(" | ")} |`);
  }
}

/** One layer of Qwen2-0.5B: q, k, v, o, gate, up, down as [N, K]. */
const QWEN2_LAYER: [number, number][] = [[896, 896], [128, 896], [128, 896], [896, 896], [4864, 896], [4864, 896], [896, 4864]];
const QWEN2_LAYERS = 24;
const QWEN2_VOCAB = 151936;

/**
 * Every matmul of a Qwen2-0.5B forward pass in turn, as the eager model will
 * call them: 24 layers of 7 weights and the lm_head, all resident at once, so
 * each weight comes from memory and not from cache, as in real decoding. All
 * formats sit in one pool (5 GB, so also over two memories) and take turns
 * run by run, so that another process taking a core for a few seconds slows
 * one run of each rather than every run of one. The tokens/s are upper
 * bounds: attention, norms and sampling come on top.
 */
async function modelStep(): Promise<void> {
  const threads = Math.max(...threadCounts);
  const cases: [string, WeightFormat, number][] = [
    ["f32", "f32", 0], ["bf16", "bf16", 0], ["f16", "f16", 0], ["q8 (blockSize 32)", "q8", 32], ["q8 (per channel)", "q8", 0],
  ];
  const pattern = weightValues(1 << 20, 11);
  const pool = await createComputePool({ threads });
  try {
    const models = cases.map(([, format, blockSize]) => {
      const layers: DeviceWeight[] = [];
      for (let l = 0; l < QWEN2_LAYERS; l++) {
        for (const [n, k] of QWEN2_LAYER) layers.push(placePattern(pool, format, n, k, blockSize || k, pattern));
      }
      const head = placePattern(pool, format, QWEN2_VOCAB, 896, blockSize || 896, pattern);
      return { layers, head, bytes: [...layers, head].reduce((sum, w) => sum + w.bytes, 0) };
    });
    const step = (model: (typeof models)[number], m: number): number => {
      const t0 = performance.now();
      for (const w of model.layers) pool.matmul(pattern.subarray(0, m * w.cols), m, w, new Float32Array(m * w.rows));
      pool.matmul(pattern.subarray(0, 896), 1, model.head, new Float32Array(QWEN2_VOCAB)); // logits of the last position only
      return performance.now() - t0;
    };
    const rounds = (m: number, count: number): Timing[] => {
      const times = models.map(() => [] as number[]);
      for (const model of models) step(model, m);
      for (let r = 0; r < count; r++) models.forEach((model, i) => times[i]!.push(step(model, m)));
      return times.map((t) => {
        t.sort((a, b) => a - b);
        return { median: t[Math.floor(t.length / 2)]!, min: t[0]!, max: t[t.length - 1]! };
      });
    };
    const decode = rounds(1, runs);
    const prefill = rounds(64, 3);
    console.log(
      `| Qwen2-0.5B matmuls, ${threads} threads, ${pool.memories} memories | weights GB | decode step ms (min-max) | GB/s | ` +
        `decode tokens/s bound | prefill 64 ms | prefill tokens/s bound |`,
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    cases.forEach(([label], i) => {
      const { bytes } = models[i]!;
      const d = decode[i]!;
      const p = prefill[i]!;
      console.log(
        `| ${label} | ${fmt(bytes / 1e9, 2)} | ${fmt(d.median)} (${fmt(d.min)}-${fmt(d.max)}) | ${fmt(bytes / d.median / 1e6)} | ` +
          `${fmt(1000 / d.median)} | ${fmt(p.median)} | ${fmt(64000 / p.median)} |`,
      );
    });
  } finally {
    await pool.dispose();
  }
}

/** A weight filled from a repeated pattern of values: quick to make at model size. blockSize: q8 only. */
function placePattern(
  pool: ComputePool,
  format: WeightFormat,
  n: number,
  k: number,
  blockSize: number,
  pattern: Float32Array,
): DeviceWeight {
  if (format === "q8") {
    return pool.quantizeWeight(n, k, blockSize, (r, out) => {
      const at = (r * k) % (pattern.length - k);
      out.set(pattern.subarray(at, at + k));
    });
  }
  return pool.allocWeight({ format, rows: n, cols: k }, ({ data }) => {
    const count = n * k;
    const values = pattern.subarray(0, Math.min(count, pattern.length));
    for (let i = 0; i < count; i += values.length) {
      const part = Math.min(values.length, count - i);
      if (format === "f32") new Float32Array(data.buffer, data.byteOffset + i * 4, part).set(values.subarray(0, part));
      else if (format === "bf16") f32ArrayToBf16(values.subarray(0, part), new Uint16Array(data.buffer, data.byteOffset + i * 2, part));
      else f32ArrayToF16(values.subarray(0, part), new Uint16Array(data.buffer, data.byteOffset + i * 2, part));
    }
  });
}

/**
 * How far each format's kernel lands from the double-precision reference on
 * the same (dequantized) weights: x like activations (N(0, 1) with 1% of
 * outliers 20 times larger, which set q8's int16 step), W ~ N(0, 0.02).
 */
async function accuracy(): Promise<void> {
  const [n, k, m] = [1024, 896, 4];
  const random = rng(9);
  const x = new Float32Array(m * k);
  for (let i = 0; i < x.length; i++) x[i] = (random() + random() + random() - 1.5) * 2 * (random() < 0.01 ? 20 : 1);
  const values = weightValues(n * k, 10);
  console.log(`| accuracy (${n}x${k}, M = ${m}) | max abs error / max abs output | max abs error / sum abs(x w) |`);
  console.log("| --- | --- | --- |");
  const pool = await createComputePool({ threads: 1 });
  try {
    const cases: [string, WeightFormat, number][] = [
      ["f32", "f32", 0], ["bf16", "bf16", 0], ["f16", "f16", 0], ["q8, blockSize 32", "q8", 32], ["q8, per channel", "q8", k],
    ];
    for (const [label, format, blockSize] of cases) {
      const w = format === "q8"
        ? pool.quantizeWeight(n, k, blockSize, (r, out) => out.set(values.subarray(r * k, (r + 1) * k)))
        : place(pool, format, { name: "", n, k }, values);
      const wide = new Float32Array(n * k);
      for (let r = 0; r < n; r++) pool.readRow(w, r, wide.subarray(r * k, (r + 1) * k));
      const out = new Float32Array(m * n);
      pool.matmul(x, m, w, out);
      let maxError = 0, maxOut = 0, maxRelative = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let ref = 0, abs = 0;
          for (let e = 0; e < k; e++) {
            ref += x[i * k + e]! * wide[j * k + e]!;
            abs += Math.abs(x[i * k + e]! * wide[j * k + e]!);
          }
          const error = Math.abs(out[i * n + j]! - ref);
          maxError = Math.max(maxError, error);
          maxOut = Math.max(maxOut, Math.abs(ref));
          maxRelative = Math.max(maxRelative, error / abs);
        }
      }
      console.log(`| ${label} | ${(maxError / maxOut).toExponential(1)} | ${maxRelative.toExponential(1)} |`);
    }
  } finally {
    await pool.dispose();
  }
}

/** What one call costs beyond its arithmetic: a 64x64 f32 matmul at M = 1. */
async function overhead(): Promise<void> {
  console.log("| dispatch overhead (64x64 f32, M = 1) | threads | µs per call (min-max) |");
  console.log("| --- | --- | --- |");
  for (const threads of threadCounts) {
    const pool = await createComputePool({ threads });
    try {
      const w = pool.allocWeight({ format: "f32", rows: 64, cols: 64 }, ({ data }) => data.fill(0));
      const x = new Float32Array(64);
      const out = new Float32Array(64);
      const calls = 2000;
      const t = time(runs, () => {
        for (let i = 0; i < calls; i++) pool.matmul(x, 1, w, out);
      });
      const us = (ms: number): string => fmt((ms * 1000) / calls, 2);
      console.log(`| per matmul call | ${threads} | ${us(t.median)} (${us(t.min)}-${us(t.max)}) |`);
    } finally {
      await pool.dispose();
    }
  }
}

/**
 * One token's attention (24 layers of Qwen2-0.5B's heads) at several cache
 * lengths, and a 64-token prefill's: the kernel on 1 and 2 threads against
 * attentionReference, the TypeScript loop it replaced (double precision, one
 * thread).
 */
async function attention(): Promise<void> {
  const shape = { heads: 14, kvHeads: 2, headDim: 64, scale: 1 / 8 };
  const qDim = shape.heads * shape.headDim;
  const kvDim = shape.kvHeads * shape.headDim;
  const layers = 24;
  const cases: [positions: number, queries: number][] = [[200, 1], [512, 1], [1024, 1], [64, 64]];
  console.log("| attention (14/2 heads of 64, 24 layers) | threads | kernel ms (min-max) | TypeScript reference ms | vs reference |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const threads of threadCounts) {
    const pool = await createComputePool({ threads });
    try {
      for (const [positions, queries] of cases) {
        const kv = pool.allocBuffer(2 * positions * kvDim * 4);
        kv.f32.set(weightValues(2 * positions * kvDim, 9).map((v) => v * 25));
        const seq: AttentionSequence = {
          row: 0,
          count: queries,
          first: positions - queries,
          segments: [{ keys: kv.f32.subarray(0, positions * kvDim), values: kv.f32.subarray(positions * kvDim), row: 0, start: 0, count: positions }],
        };
        const q = weightValues(queries * qDim, 10).map((v) => v * 25);
        const out = new Float32Array(q.length);
        const kernel = time(runs, () => {
          for (let l = 0; l < layers; l++) pool.attention(q, out, shape, [seq]);
        });
        const reference = time(Math.min(runs, 3), () => {
          for (let l = 0; l < layers; l++) attentionReference(q, out, shape, [seq]);
        });
        const what = queries === 1 ? `decode at ${positions} positions` : `prefill of ${queries} tokens`;
        console.log(`| ${what} | ${threads} | ${fmt(kernel.median, 2)} (${fmt(kernel.min, 2)}-${fmt(kernel.max, 2)}) | ${fmt(reference.median, 1)} | ${fmt(reference.median / kernel.median)}x |`);
        pool.freeBuffer(kv);
      }
    } finally {
      await pool.dispose();
    }
  }
}

await main();
