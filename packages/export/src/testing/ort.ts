import * as ort from "onnxruntime-node";
import type { Tensor } from "@oar/tensor";

/** Runs the model at `file` on onnxruntime's CPU provider and returns every output as f32 numbers. */
export async function runOrt(file: string, feeds: Readonly<Record<string, Tensor>>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], logSeverityLevel: 3 });
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(ortType(t.dtype), t.data as Float32Array, [...t.shape]);
    const out = await session.run(ortFeeds);
    const result: Record<string, number[]> = {};
    for (const [name, t] of Object.entries(out)) result[name] = Array.from(t.data as ArrayLike<number | bigint>, Number);
    return result;
  } finally {
    await session.release();
  }
}

function ortType(dtype: Tensor["dtype"]): ort.Tensor.Type {
  switch (dtype) {
    case "f32":
      return "float32";
    case "i64":
      return "int64";
    case "i32":
      return "int32";
    case "bool":
      return "bool";
    case "u8":
      return "uint8";
    case "i8":
      return "int8";
    case "f16":
      return "float16";
    default:
      throw new Error(`test helper: no onnxruntime feed for ${dtype}`);
  }
}

/** Largest |a-b| / max(1, |b|) over two equally long arrays. */
export function maxRelDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  return m;
}

/** Deterministic pseudo-random f32 data in [-1, 1). */
export function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}
