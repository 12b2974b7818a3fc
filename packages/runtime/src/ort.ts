/**
 * The one module of Oar's runtime that imports onnxruntime: it creates the
 * session, checks every feed against what the session declares, and runs
 * it asking only for the outputs the caller needs. Everything else works
 * on the plain `Feed` and `Fetched` records below.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import { assertNever } from "@oar/tensor";

/** Element types the runtime feeds and reads. */
export type FeedType = "int64" | "float32" | "float16";

/** One input: data in row-major order, passed to onnxruntime without a copy. */
export interface Feed {
  readonly type: FeedType;
  readonly data: BigInt64Array | Float32Array | Uint16Array; // [dims], row-major; float16 as raw bits
  readonly dims: readonly number[];
}

/** One output, in a buffer of its own. */
export interface Fetched {
  readonly data: Float32Array | Uint16Array; // [dims], row-major; float16 as raw bits
  readonly dims: readonly number[];
}

export type Device = "cpu" | "gpu";

export interface SessionSettings {
  readonly device: Device;
  /** Threads of one operator (default: the cores this process may use). */
  readonly intraOpThreads?: number;
}

/** What a graph declares for an input or output: its element type and shape (symbolic dimensions by name). */
export interface DeclaredValue {
  readonly name: string;
  readonly type: string;
  readonly shape: readonly (number | string)[];
}

/** An onnxruntime session over one model file. */
export interface Session {
  readonly file: string;
  readonly device: Device;
  readonly inputs: readonly DeclaredValue[];
  readonly outputs: readonly DeclaredValue[];
  /** Runs the graph and returns the `fetches` only. Wrong feeds throw with the table of every input, expected and fed. */
  run(feeds: Readonly<Record<string, Feed>>, fetches: readonly string[]): Promise<Record<string, Fetched>>;
  release(): Promise<void>;
}

/**
 * Session options, as measured on the 2-core machine of the project (see
 * the README): as many intra-op threads as cores, all graph optimizations
 * (onnxruntime's own fusions still find MatMul+Transpose and bias folds in
 * our graphs), the CPU memory arena on (activations are reused across
 * steps), memory patterns off (shapes change every step, so a pattern
 * would be planned again each time), sequential execution (a decoder is a
 * chain: parallel execution only adds a second thread pool fighting for
 * the same cores).
 */
function sessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  const threads = settings.intraOpThreads ?? os.availableParallelism();
  if (!Number.isSafeInteger(threads) || threads < 1) throw new Error(`intra-op threads must be a positive integer, got ${threads}`);
  return {
    executionProviders: [providerOf(settings.device)],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    enableCpuMemArena: true,
    enableMemPattern: false,
    executionMode: "sequential",
    logSeverityLevel: 3,
  };
}

function providerOf(device: Device): string {
  switch (device) {
    case "cpu":
      return "cpu";
    case "gpu":
      return "cuda";
    default:
      return assertNever(device);
  }
}

/**
 * Why the CUDA provider cannot be used here, or null when it can be tried:
 * onnxruntime-node ships it unbundled, as libraries its install script
 * downloads beside the binding only when asked (ONNXRUNTIME_NODE_INSTALL_CUDA).
 */
function cudaUnavailable(): string | null {
  const cuda = ort.listSupportedBackends().find((b) => b.name === "cuda");
  if (cuda === undefined) return "this build of onnxruntime-node has no CUDA execution provider";
  if (cuda.bundled) return null;
  const require = createRequire(import.meta.url);
  const binding = path.join(path.dirname(require.resolve("onnxruntime-node")), "..", "bin", "napi-v6", process.platform, process.arch);
  const library = path.join(binding, "libonnxruntime_providers_cuda.so");
  if (fs.existsSync(library)) return null;
  return `onnxruntime-node's CUDA provider is not installed (no ${library}); reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL_CUDA=v12 on a machine with CUDA 12, or run with --device cpu`;
}

/** Opens `file` on the settings' device. A missing CUDA provider is a one-line error. */
export async function openSession(file: string, settings: SessionSettings): Promise<Session> {
  if (settings.device === "gpu") {
    const why = cudaUnavailable();
    if (why !== null) throw new Error(`--device gpu: ${why}`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, sessionOptions(settings));
  } catch (e) {
    const what = settings.device === "gpu" ? "on the CUDA execution provider" : "on the CPU";
    throw new Error(`${file}: onnxruntime cannot open the model ${what}: ${firstLine(e)}`);
  }
  const declared = (list: readonly ort.InferenceSession.ValueMetadata[]): DeclaredValue[] =>
    list.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: "(not a tensor)", shape: [] }));
  const inputs = declared(session.inputMetadata);
  const outputs = declared(session.outputMetadata);
  return {
    file,
    device: settings.device,
    inputs,
    outputs,
    async run(feeds, fetches) {
      const problems = checkFeeds(inputs, feeds);
      const unknown = fetches.filter((f) => !outputs.some((o) => o.name === f));
      if (unknown.length > 0) throw new Error(`${file}: the graph has no output ${unknown.join(", ")} (it has ${outputs.map((o) => o.name).join(", ")})`);
      if (problems.length > 0) throw new Error(feedReport(file, problems.join("; "), inputs, feeds));
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, f] of Object.entries(feeds)) tensors[name] = new ort.Tensor(f.type, f.data, [...f.dims]);
      let result: ort.InferenceSession.ReturnType;
      try {
        result = await session.run(tensors, [...fetches]);
      } catch (e) {
        throw new Error(feedReport(file, `onnxruntime refused them: ${firstLine(e)}`, inputs, feeds));
      }
      const out: Record<string, Fetched> = {};
      for (const name of fetches) {
        const t = result[name] as ort.Tensor;
        out[name] = { data: t.data as Float32Array | Uint16Array, dims: t.dims };
      }
      return out;
    },
    release: () => session.release(),
  };
}

/** Every way the feeds differ from the declared inputs, one phrase each (empty: they agree). */
export function checkFeeds(inputs: readonly DeclaredValue[], feeds: Readonly<Record<string, Feed>>): string[] {
  const problems: string[] = [];
  const sizes = new Map<string, number>();
  for (const input of inputs) {
    const f = feeds[input.name];
    if (f === undefined) {
      problems.push(`${input.name} is missing`);
      continue;
    }
    if (f.type !== input.type) problems.push(`${input.name} is ${f.type}, expected ${input.type}`);
    const elements = f.dims.reduce((a, b) => a * b, 1);
    if (elements !== f.data.length) problems.push(`${input.name} has ${f.data.length} elements for dims [${f.dims.join(", ")}]`);
    if (f.dims.length !== input.shape.length) {
      problems.push(`${input.name} has rank ${f.dims.length}, expected ${input.shape.length}`);
      continue;
    }
    input.shape.forEach((d, i) => {
      const got = f.dims[i]!;
      if (typeof d === "number") {
        if (d !== got) problems.push(`${input.name} dimension ${i} is ${got}, expected ${d}`);
        return;
      }
      // One symbol means one size across the inputs that share it.
      const seen = sizes.get(d);
      if (seen === undefined) sizes.set(d, got);
      else if (seen !== got) problems.push(`${input.name} dimension ${i} (${d}) is ${got}, but ${d} is ${seen} in an earlier input`);
    });
  }
  for (const name of Object.keys(feeds)) {
    if (!inputs.some((i) => i.name === name)) problems.push(`${name} is not an input of the graph`);
  }
  return problems;
}

/** The message of a refused run: what went wrong, then every input's name, declared type and shape, and what was fed. */
export function feedReport(file: string, problem: string, inputs: readonly DeclaredValue[], feeds: Readonly<Record<string, Feed>>): string {
  const rows: [string, string, string][] = [["input", "expected", "fed"]];
  for (const input of inputs) {
    const f = feeds[input.name];
    rows.push([input.name, `${input.type} [${input.shape.join(", ")}]`, f === undefined ? "(missing)" : `${f.type} [${f.dims.join(", ")}]`]);
  }
  for (const [name, f] of Object.entries(feeds)) {
    if (!inputs.some((i) => i.name === name)) rows.push([name, "(not an input)", `${f.type} [${f.dims.join(", ")}]`]);
  }
  const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const table = rows.map((r) => `  ${r[0].padEnd(widths[0]!)}  ${r[1].padEnd(widths[1]!)}  ${r[2]}`).join("\n");
  return `${file}: wrong feeds: ${problem}\n${table}`;
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split("\n")[0]!.trim();
}
