import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Tensor } from "@oar/tensor";
import type { Graph } from "../../ir/graph.js";
import { writeModel } from "../../onnx/write.js";
import { maxRelDiff, runOrt } from "../../testing/ort.js";

/*
 * Running decoder graphs on onnxruntime the way a runtime does, for the
 * passes' tests: a left-padded batch prefilled over an empty past, then one
 * decode step over the presents it returned. Graphs are compared where they
 * must agree: logits of real (unpadded) tokens, and KV entries of real
 * tokens. What padded positions compute is not part of any graph's contract.
 */

/** The KV geometry of a decoder graph. */
export interface KvDims {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/** Outputs of a prefill and a decode step, each as f32 numbers by output name. */
export interface PaddedRun {
  readonly prefill: Record<string, number[]>;
  readonly decode: Record<string, number[]>;
  /** attention_mask of each step, [batch][total]. */
  readonly masks: { readonly prefill: readonly number[][]; readonly decode: readonly number[][] };
}

/** A scratch directory for model files, removed when the process exits. */
export function scratchDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let written = 0;

/** Writes `graph` under `dir` (a fresh subdirectory) and returns the model path. */
export function writeScratch(graph: Graph, dir: string): string {
  return writeModel(graph, path.join(dir, `m${written++}`)).modelPath;
}

const i64 = (shape: readonly number[], values: readonly number[]): Tensor => ({
  dtype: "i64",
  shape,
  data: BigInt64Array.from(values, (x) => BigInt(x)),
});

/**
 * Prefill of `prompts` (left-padded to the longest, logits for every
 * position), then one decode step of `next[b]` for each row, on the model
 * at `file`.
 */
export async function runPaddedBatch(file: string, dims: KvDims, prompts: readonly (readonly number[])[], next: readonly number[]): Promise<PaddedRun> {
  const batch = prompts.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const prefillMask = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...p.map(() => 1)]);
  const ids = prompts.flatMap((p) => [...new Array<number>(width - p.length).fill(0), ...p]);
  const positions = prefillMask.flatMap((row) => {
    let seen = 0;
    return row.map((m) => (m === 1 ? seen++ : 0));
  });
  const kv = (layer: number, kind: "key" | "value", data: Float32Array, len: number): [string, Tensor] => [
    `past_key_values.${layer}.${kind}`,
    { dtype: "f32", shape: [batch, dims.numKvHeads, len, dims.headDim], data },
  ];
  const emptyPast = Object.fromEntries(
    Array.from({ length: dims.numLayers }, (_, l) => [kv(l, "key", new Float32Array(0), 0), kv(l, "value", new Float32Array(0), 0)]).flat(),
  );
  const prefill = await runOrt(file, {
    input_ids: i64([batch, width], ids),
    attention_mask: i64([batch, width], prefillMask.flat()),
    position_ids: i64([batch, width], positions),
    num_logits_to_keep: i64([], [0]),
    ...emptyPast,
  });
  const decodeMask = prefillMask.map((row) => [...row, 1]);
  const past = Object.fromEntries(
    Array.from({ length: dims.numLayers }, (_, l) =>
      (["key", "value"] as const).map((kind) => kv(l, kind, Float32Array.from(prefill[`present.${l}.${kind}`]!), width)),
    ).flat(),
  );
  const decode = await runOrt(file, {
    input_ids: i64([batch, 1], next),
    attention_mask: i64([batch, width + 1], decodeMask.flat()),
    position_ids: i64([batch, 1], prompts.map((p) => p.length)),
    num_logits_to_keep: i64([], [1]),
    ...past,
  });
  return { prefill, decode, masks: { prefill: prefillMask, decode: decodeMask } };
}

/** The elements of rows [batch, positions, width] whose position the mask marks real. */
function realRows(data: readonly number[], mask: readonly number[][], width: number): number[] {
  const out: number[] = [];
  const positions = mask[0]!.length;
  mask.forEach((row, b) =>
    row.forEach((m, s) => {
      if (m === 1) for (let i = 0; i < width; i++) out.push(data[(b * positions + s) * width + i]!);
    }),
  );
  return out;
}

/** The KV entries [batch, kv_heads, total, head_dim] of real tokens. */
function realKv(data: readonly number[], mask: readonly number[][], dims: KvDims): number[] {
  const out: number[] = [];
  const total = mask[0]!.length;
  mask.forEach((row, b) => {
    for (let h = 0; h < dims.numKvHeads; h++) {
      row.forEach((m, t) => {
        if (m !== 1) return;
        const at = ((b * dims.numKvHeads + h) * total + t) * dims.headDim;
        for (let i = 0; i < dims.headDim; i++) out.push(data[at + i]!);
      });
    }
  });
  return out;
}

/** Largest relative difference of `a` from `b` (the reference) over what must agree: real tokens' logits and KV. */
export function paddedRunDifference(a: PaddedRun, b: PaddedRun, dims: KvDims, vocab: number): { readonly logits: number; readonly kv: number } {
  let logits = maxRelDiff(realRows(a.prefill["logits"]!, a.masks.prefill, vocab), realRows(b.prefill["logits"]!, b.masks.prefill, vocab));
  logits = Math.max(logits, maxRelDiff(a.decode["logits"]!, b.decode["logits"]!));
  let kv = 0;
  for (let l = 0; l < dims.numLayers; l++) {
    for (const kind of ["key", "value"]) {
      const name = `present.${l}.${kind}`;
      kv = Math.max(kv, maxRelDiff(realKv(a.prefill[name]!, a.masks.prefill, dims), realKv(b.prefill[name]!, b.masks.prefill, dims)));
      kv = Math.max(kv, maxRelDiff(realKv(a.decode[name]!, a.masks.decode, dims), realKv(b.decode[name]!, b.masks.decode, dims)));
    }
  }
  return { logits, kv };
}

/** The index of the largest of each row of `width` numbers. */
export function argmaxRows(data: readonly number[], width: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * width < data.length; r++) {
    let best = 0;
    for (let i = 1; i < width; i++) if (data[r * width + i]! > data[r * width + best]!) best = i;
    out.push(best);
  }
  return out;
}

/** Logits [positions, vocab] of one unpadded sequence over an empty past, every position kept. */
export async function runSequence(file: string, dims: KvDims, ids: readonly number[]): Promise<number[]> {
  const n = ids.length;
  const past = Object.fromEntries(
    Array.from({ length: dims.numLayers }, (_, l) =>
      (["key", "value"] as const).map((kind): [string, Tensor] => [
        `past_key_values.${l}.${kind}`,
        { dtype: "f32", shape: [1, dims.numKvHeads, 0, dims.headDim], data: new Float32Array(0) },
      ]),
    ).flat(),
  );
  const out = await runOrt(file, {
    input_ids: i64([1, n], ids),
    attention_mask: i64([1, n], ids.map(() => 1)),
    position_ids: i64([1, n], ids.map((_, i) => i)),
    num_logits_to_keep: i64([], [0]),
    ...past,
  });
  return out["logits"]!;
}
