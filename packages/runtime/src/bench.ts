/**
 * The runtime's benchmark on the qwen2-0.5b preset (random weights, bf16
 * checkpoint made by @oar/make-tiny-model, exported by @oar/export with
 * the fusion passes):
 *
 *     npm run bench -w @oar/runtime -- [--rounds 5] [--only decode,batch,blocks,kv,kv-options] [--json results.json]
 *
 * Every measurement runs in a child process of its own (so peak RSS is one
 * configuration's), and the configurations take turns within each round
 * (A B C, A B C, ...), so a burst of load from elsewhere on this shared
 * machine lands on all of them; the tables give medians over the rounds
 * and the load average seen. Sections:
 *
 * - decode: f32 / weight-only int8 / int4 graphs (the quantization
 *   passes' defaults, and quantization blocks of 128), one sequence: a
 *   64-token prompt (prefill tokens/s), then 128 new tokens with EOS
 *   ignored (decode tokens/s), and the process's peak RSS;
 * - batch: 8 such prompts through generateBatch with 8 slots, decode and
 *   total tokens/s against one sequence's;
 * - blocks: concurrent sequences and tokens/s with block attention against
 *   a dense allocation sized for max_length, in the same KV memory, with
 *   short prompts;
 * - kv: decode ms/token at several context lengths, dense cache against
 *   block attention;
 * - kv-options: how the dense KV is moved, on the raw session: the
 *   present fed back as the next past, the runtime's buffer fed and the
 *   present fetched, the runtime's buffer fed and only the new KV fetched.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type ExportOptions, exportModel } from "@oar/export";
import { type CausalLM, generateBatch, type GenerationRequest, measureRun } from "@oar/generation";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { assertNever } from "@oar/tensor";
import { loadStaticModel, type StaticModelOptions } from "./load.js";
import { type Feed, type Fetched, openSession } from "./ort.js";

const PROMPT = 64;
const NEW_TOKENS = 128;
const VOCAB = 151_000;

/** The exported graphs the bench runs, by name. */
const GRAPHS = {
  f32: { inferenceModel: true },
  int8: { inferenceModel: true, quantType: "weight_only_int8" },
  int4: { inferenceModel: true, quantType: "weight_only_int4" },
  "int8-b128": { inferenceModel: true, quantType: "weight_only_int8", quantization: { blockSize: 128 } },
  "int4-b128": { inferenceModel: true, quantType: "weight_only_int4", quantization: { blockSize: 128 } },
  "int8-blocks": { inferenceModel: true, quantType: "weight_only_int8", blockAttn: true, blockSize: 64 },
} as const satisfies Record<string, Omit<ExportOptions, "modelDir" | "outputDir">>;
type GraphName = keyof typeof GRAPHS;
const FORMATS = ["f32", "int8", "int4"] as const satisfies readonly GraphName[];
/** The decode section's graphs, with the weight format whose targets apply. */
const DECODE_GRAPHS: readonly { readonly graph: GraphName; readonly format: (typeof FORMATS)[number]; readonly label: string }[] = [
  { graph: "f32", format: "f32", label: "f32" },
  { graph: "int8", format: "int8", label: "int8 (blocks of 32: the passes' default)" },
  { graph: "int4", format: "int4", label: "int4 (blocks of 32: the passes' default)" },
  { graph: "int8-b128", format: "int8", label: "int8, quantization blocks of 128" },
  { graph: "int4-b128", format: "int4", label: "int4, quantization blocks of 128" },
];

/** What a child process measures. */
type Job =
  | { readonly kind: "generate"; readonly graph: GraphName; readonly requests: number; readonly prompt: number; readonly newTokens: number; readonly slots: number; readonly model?: StaticModelOptions }
  | { readonly kind: "context"; readonly graph: GraphName; readonly context: number; readonly steps: number }
  | { readonly kind: "kv-option"; readonly graph: GraphName; readonly option: KvOption; readonly context: number; readonly steps: number };

type KvOption = "present fed back" | "own buffer, fetch present" | "own buffer, fetch new";
const KV_OPTIONS: readonly KvOption[] = ["present fed back", "own buffer, fetch present", "own buffer, fetch new"];

/** One child's answer. */
interface Measured {
  readonly prefillTokensPerS?: number;
  readonly decodeTokensPerS?: number;
  readonly tokensPerS?: number;
  readonly maxConcurrent?: number;
  readonly kvMiB?: number;
  readonly msPerToken?: number;
  readonly peakRssMiB: number;
  readonly load: number;
}

const CHILD = "--child";
const SECTIONS = ["decode", "batch", "blocks", "kv", "kv-options"] as const;
type Section = (typeof SECTIONS)[number];

// ---------------------------------------------------------------- the child

/** Distinct, deterministic prompt ids. */
function prompt(request: number, length: number): number[] {
  return Array.from({ length }, (_, i) => (request * 7919 + i * 104_729 + 13) % VOCAB);
}

function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function runJob(job: Job, dir: string): Promise<Measured> {
  switch (job.kind) {
    case "generate":
      return generateJob(job, dir);
    case "context":
      return contextJob(job, dir);
    case "kv-option":
      return kvOptionJob(job, dir);
    default:
      return assertNever(job);
  }
}

/** Prompts through generateBatch (after a short warm-up run), EOS ignored. */
async function generateJob(job: Extract<Job, { kind: "generate" }>, dir: string): Promise<Measured> {
  const model = await loadStaticModel(dir, { batchSize: job.slots, ...job.model });
  try {
    await generateBatch(model, [{ tokens: prompt(999, 8) }], { maxNewTokens: 3, ignoreEos: true });
    const requests: GenerationRequest[] = Array.from({ length: job.requests }, (_, r) => ({ tokens: prompt(r, job.prompt) }));
    const run = await generateBatch(model, requests, { maxNewTokens: job.newTokens, ignoreEos: true, batchSize: job.slots });
    const m = measureRun(run);
    const maxConcurrent = Math.max(...run.steps.map((s) => s.slots.filter((slot) => slot !== null).length));
    return {
      prefillTokensPerS: m.prefillTokensPerS,
      decodeTokensPerS: m.decodeTokensPerS,
      tokensPerS: m.tokensPerS,
      maxConcurrent,
      kvMiB: model.cache.bytes() / 2 ** 20,
      peakRssMiB: peakRssMiB(),
      load: os.loadavg()[0]!,
    };
  } finally {
    await model.dispose();
  }
}

/** Median ms of one-token steps after a context of `context` positions (prefilled in chunks of 512). */
async function contextJob(job: Extract<Job, { kind: "context" }>, dir: string): Promise<Measured> {
  const model: CausalLM = await loadStaticModel(dir, { positions: job.context + job.steps });
  try {
    const seq = model.createSequence();
    const ids = prompt(1, job.context);
    for (let at = 0; at < ids.length; at += 512) await model.forward([{ seq, tokens: ids.slice(at, at + 512) }]);
    const times: number[] = [];
    for (let i = 0; i < job.steps; i++) {
      const t = performance.now();
      await model.forward([{ seq, tokens: [(i * 31) % VOCAB] }]);
      times.push(performance.now() - t);
    }
    return { msPerToken: median(times), peakRssMiB: peakRssMiB(), load: os.loadavg()[0]! };
  } finally {
    await model.dispose();
  }
}

/**
 * One-token steps after `context` positions on the raw session, the KV
 * moved one of three ways (see the file comment). The past holds zeros: the
 * cost does not depend on the values.
 */
async function kvOptionJob(job: Extract<Job, { kind: "kv-option" }>, dir: string): Promise<Measured> {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "oar_inference.json"), "utf8")) as {
    kv_cache: { num_layers: number; num_kv_heads: number; head_dim: number };
  };
  const { num_layers: layers, num_kv_heads: kvHeads, head_dim: headDim } = manifest.kv_cache;
  const session = await openSession(path.join(dir, "model.onnx"), { device: "cpu" });
  try {
    const chunk = 64;
    const ownBuffer = job.option !== "present fed back";
    const fetchNew = job.option === "own buffer, fetch new";
    const capacity = ownBuffer ? Math.ceil((job.context + job.steps) / chunk) * chunk : job.context;
    let past: Record<string, Feed> = {};
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"]) {
        past[`past_key_values.${l}.${kind}`] = { type: "float32", data: new Float32Array(kvHeads * capacity * headDim), dims: [1, kvHeads, capacity, headDim] };
      }
    }
    const fetches = ["logits"];
    for (let l = 0; l < layers; l++) for (const kind of ["key", "value"]) fetches.push(fetchNew ? `new_key_values.${l}.${kind}` : `present.${l}.${kind}`);
    const i64 = (values: readonly number[], dims: readonly number[]): Feed => ({ type: "int64", data: BigInt64Array.from(values, (v) => BigInt(v)), dims });
    const times: number[] = [];
    for (let i = 0; i < job.steps + 1; i++) {
      const held = job.context + i;
      const width = ownBuffer ? capacity : held;
      const mask = new BigInt64Array(width + 1);
      mask.fill(1n, 0, held);
      mask[width] = 1n;
      const t = performance.now();
      const out: Record<string, Fetched> = await session.run(
        { input_ids: i64([(i * 31) % VOCAB], [1, 1]), attention_mask: { type: "int64", data: mask, dims: [1, width + 1] }, position_ids: i64([held], [1, 1]), num_logits_to_keep: i64([1], []), ...past },
        fetches,
      );
      if (i > 0) times.push(performance.now() - t);
      if (!ownBuffer) {
        past = {};
        for (let l = 0; l < layers; l++) {
          for (const kind of ["key", "value"]) {
            const p = out[`present.${l}.${kind}`]!;
            past[`past_key_values.${l}.${kind}`] = { type: "float32", data: p.data, dims: p.dims };
          }
        }
      }
    }
    return { msPerToken: median(times), peakRssMiB: peakRssMiB(), load: os.loadavg()[0]! };
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------- the parent

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A digest of @oar/export's compiled code: a changed exporter never reuses an old export. */
function exporterHash(): string {
  const dist = path.dirname(fileURLToPath(import.meta.resolve("@oar/export")));
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith(".js") && !entry.name.endsWith(".test.js")) h.update(entry.name).update(fs.readFileSync(p));
    }
  };
  walk(dist);
  return h.digest("hex").slice(0, 12);
}

/** The inference directory of `graph`, exported on first use into a cache beside the checkpoints. */
async function exported(graph: GraphName, modelDir: string, cacheRoot: string): Promise<string> {
  const dir = path.join(cacheRoot, graph);
  if (fs.existsSync(path.join(dir, "oar_inference.json"))) return dir;
  const started = performance.now();
  await exportModel({ modelDir, outputDir: dir, ...GRAPHS[graph], overwrite: true });
  console.error(`bench: exported ${graph} in ${((performance.now() - started) / 1000).toFixed(0)} s to ${dir}`);
  return dir;
}

interface Plan {
  readonly label: string;
  readonly section: Section;
  readonly job: Job;
}

/** Every configuration of the chosen sections, in the order each round runs them. */
function plan(sections: readonly Section[]): Plan[] {
  const out: Plan[] = [];
  const single = (graph: GraphName): Job => ({ kind: "generate", graph, requests: 1, prompt: PROMPT, newTokens: NEW_TOKENS, slots: 1 });
  if (sections.includes("decode")) for (const d of DECODE_GRAPHS) out.push({ label: `${d.graph} single`, section: "decode", job: single(d.graph) });
  else if (sections.includes("batch")) for (const f of FORMATS) out.push({ label: `${f} single`, section: "decode", job: single(f) });
  if (sections.includes("batch")) {
    for (const f of FORMATS) out.push({ label: `${f} batch 8`, section: "batch", job: { kind: "generate", graph: f, requests: 8, prompt: PROMPT, newTokens: NEW_TOKENS, slots: 8 } });
  }
  if (sections.includes("blocks")) {
    // The same KV memory: 2 sequences of max_length 1024 dense, or 32 blocks of 64 positions.
    const shortPrompts = { requests: 40, prompt: 24, newTokens: 40 };
    out.push({ label: "dense, 2 x max_length 1024", section: "blocks", job: { kind: "generate", graph: "int8", ...shortPrompts, slots: 2, model: { positions: 1024 } } });
    out.push({ label: "blocks, 32 x 64 positions", section: "blocks", job: { kind: "generate", graph: "int8-blocks", ...shortPrompts, slots: 40, model: { numBlocks: 32, positions: 1024 } } });
  }
  if (sections.includes("kv")) {
    for (const context of [128, 512, 2048]) {
      for (const graph of ["int8", "int8-blocks"] as const) out.push({ label: `${graph} @ ${context}`, section: "kv", job: { kind: "context", graph, context, steps: 16 } });
    }
  }
  if (sections.includes("kv-options")) {
    for (const context of [64, 512, 2048]) {
      for (const option of KV_OPTIONS) out.push({ label: `${option} @ ${context}`, section: "kv-options", job: { kind: "kv-option", graph: "int4", option, context, steps: 16 } });
    }
  }
  return out;
}

function parseArgs(argv: readonly string[]): { rounds: number; sections: Section[]; json: string | null } {
  let rounds = 5;
  let sections: Section[] = [...SECTIONS];
  let json: string | null = null;
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case "--rounds":
        rounds = Number(value);
        if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${value}`);
        break;
      case "--only":
        sections = value.split(",").map((s) => {
          if (!SECTIONS.includes(s as Section)) throw new Error(`--only: ${s} is not one of ${SECTIONS.join(", ")}`);
          return s as Section;
        });
        break;
      case "--json":
        json = value;
        break;
      default:
        throw new Error(`unknown flag ${flag} (flags: --rounds N, --only ${SECTIONS.join(",")}, --json FILE)`);
    }
  }
  return { rounds, sections, json };
}

async function parent(argv: readonly string[]): Promise<void> {
  const { rounds, sections, json } = parseArgs(argv);
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "qwen2-0.5b", dtype: "bf16" });
  const cacheRoot = path.join(os.tmpdir(), "oar-runtime-bench", exporterHash());
  const plans = plan(sections);
  const dirs = new Map<GraphName, string>();
  for (const p of plans) if (!dirs.has(p.job.graph)) dirs.set(p.job.graph, await exported(p.job.graph, modelDir, cacheRoot));
  const results = new Map<string, Measured[]>();
  const loads: number[] = [];
  console.error(`bench: ${plans.length} configurations x ${rounds} rounds, ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  for (let round = 1; round <= rounds; round++) {
    for (const p of plans) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), CHILD, JSON.stringify(p.job), dirs.get(p.job.graph)!], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      });
      if (r.status !== 0) throw new Error(`${p.label} failed (exit ${r.status})`);
      const m = JSON.parse(r.stdout) as Measured;
      loads.push(m.load);
      results.set(p.label, [...(results.get(p.label) ?? []), m]);
      console.error(`bench: round ${round}/${rounds} ${p.label}: ${JSON.stringify(m)}`);
    }
  }
  const report = { date: new Date().toISOString(), cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? "?", rounds, loadAverage: { min: Math.min(...loads), median: median(loads), max: Math.max(...loads) }, results: Object.fromEntries(results) };
  if (json !== null) fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(tables(sections, results, report.loadAverage, rounds));
}

const LLAMA_CPP = { f32: { decode: 10.5, prefill: 101 }, int8: { decode: 22.3, prefill: 163 }, int4: { decode: 48.7, prefill: 422 } } as const;
const TARGET_DECODE = { f32: 16, int8: 45, int4: 55 } as const;

function tables(sections: readonly Section[], results: Map<string, Measured[]>, load: { min: number; median: number; max: number }, rounds: number): string {
  const values = (label: string, key: keyof Measured): number[] => (results.get(label) ?? []).map((m) => m[key] ?? Number.NaN);
  const med = (label: string, key: keyof Measured): number => median(values(label, key));
  const f = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");
  /** A rate's median and, in parentheses, its best run: the best is what the machine does when the neighbours are quiet. */
  const rate = (label: string, key: keyof Measured): string => `${f(med(label, key))} (${f(Math.max(...values(label, key)))})`;
  const lines: string[] = [
    `qwen2-0.5b preset (random weights), fused graphs, onnxruntime-node CPU, ${os.availableParallelism()} cores; medians of ${rounds} interleaved rounds; load average ${f(load.min, 2)} / ${f(load.median, 2)} / ${f(load.max, 2)} (min / median / max)`,
    "",
  ];
  if (sections.includes("decode")) {
    lines.push(
      "| weights | decode tok/s, median (best) | target | llama.cpp | prefill tok/s, 64-token prompt, median (best) | llama.cpp | peak RSS MiB |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const d of DECODE_GRAPHS) {
      const l = `${d.graph} single`;
      const { decode, prefill } = LLAMA_CPP[d.format];
      lines.push(`| ${d.label} | ${rate(l, "decodeTokensPerS")} | >= ${TARGET_DECODE[d.format]} | ${decode} | ${rate(l, "prefillTokensPerS")} | ${prefill} | ${f(med(l, "peakRssMiB"), 0)} |`);
    }
    lines.push("");
  }
  if (sections.includes("batch")) {
    lines.push(
      "| weights | batch 1 decode tok/s | batch 8 decode tok/s (all sequences) | ratio of medians (target >= 4) | batch 8 total tok/s (wall, prefill included) | peak RSS MiB |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const fmt of FORMATS) {
      const one = med(`${fmt} single`, "decodeTokensPerS");
      const eight = med(`${fmt} batch 8`, "decodeTokensPerS");
      lines.push(`| ${fmt} | ${rate(`${fmt} single`, "decodeTokensPerS")} | ${rate(`${fmt} batch 8`, "decodeTokensPerS")} | ${f(eight / one, 2)} | ${rate(`${fmt} batch 8`, "tokensPerS")} | ${f(med(`${fmt} batch 8`, "peakRssMiB"), 0)} |`);
    }
    lines.push("");
  }
  if (sections.includes("blocks")) {
    const budget = med("blocks, 32 x 64 positions", "kvMiB");
    lines.push(`| int8; 40 prompts of 24 tokens + 40 new; max_length 1024; ${f(budget)} MiB of KV memory each | sequences in flight | total tok/s, median (best) |`, "| --- | --- | --- |");
    for (const l of ["dense, 2 x max_length 1024", "blocks, 32 x 64 positions"]) {
      lines.push(`| ${l} | ${f(med(l, "maxConcurrent"), 0)} | ${rate(l, "tokensPerS")} |`);
    }
    lines.push("");
  }
  if (sections.includes("kv")) {
    lines.push("| context | dense decode ms/token | block attention ms/token |", "| --- | --- | --- |");
    for (const c of [128, 512, 2048]) lines.push(`| ${c} | ${f(med(`int8 @ ${c}`, "msPerToken"))} | ${f(med(`int8-blocks @ ${c}`, "msPerToken"))} |`);
    lines.push("");
  }
  if (sections.includes("kv-options")) {
    lines.push(`| context (int4 graph) | ${KV_OPTIONS.join(" | ")} |`, `| --- |${KV_OPTIONS.map(() => " --- |").join("")}`);
    for (const c of [64, 512, 2048]) lines.push(`| ${c} | ${KV_OPTIONS.map((o) => `${f(med(`${o} @ ${c}`, "msPerToken"))} ms`).join(" | ")} |`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}

const [flag, job, dir] = process.argv.slice(2);
if (flag === CHILD) {
  process.stdout.write(`${JSON.stringify(await runJob(JSON.parse(job!) as Job, dir!))}\n`);
} else {
  await parent(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
