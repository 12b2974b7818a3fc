/**
 * A prefix-tuning prefix: keys and values every sequence starts with,
 * read from the file export-model writes beside the graph (one tensor per
 * layer and kind, named like the dense graph's past input,
 * [kv_heads, length, head_dim] in the KV dtype).
 */
import { openSafetensors } from "@oar/tensor";
import type { KvType, Manifest } from "./manifest.js";

/** KV data of the dtype a graph's cache holds: float32, or float16 as raw bits. */
export type KvArray = Float32Array | Uint16Array;

export interface Prefix {
  readonly length: number;
  readonly keys: readonly KvArray[]; // per layer [kv_heads, length, head_dim]
  readonly values: readonly KvArray[]; // per layer [kv_heads, length, head_dim]
}

/** A new zeroed array of `n` elements of `type`. */
export function kvArray(type: KvType, n: number): KvArray {
  return type === "float32" ? new Float32Array(n) : new Uint16Array(n);
}

/** Reads the manifest's prefix; null when the directory has none. */
export function readPrefix(m: Manifest): Prefix | null {
  if (m.prefix === null) return null;
  const { file, length } = m.prefix;
  const source = openSafetensors(file);
  try {
    const read = (layer: number, kind: "key" | "value"): KvArray => {
      const name = `past_key_values.${layer}.${kind}`;
      const t = source.read(name);
      const shape = [m.numKvHeads, length, m.headDim];
      if (t.shape.join(",") !== shape.join(",")) throw new Error(`${file}: ${name} is [${t.shape.join(", ")}], expected [${shape.join(", ")}]`);
      const dtype = m.kvType === "float32" ? "f32" : "f16";
      if (t.dtype !== dtype) throw new Error(`${file}: ${name} is ${t.dtype}, the graph's KV is ${m.kvType}`);
      return t.data as KvArray;
    };
    const keys: KvArray[] = [];
    const values: KvArray[] = [];
    for (let l = 0; l < m.numLayers; l++) {
      keys.push(read(l, "key"));
      values.push(read(l, "value"));
    }
    return { length, keys, values };
  } finally {
    source.close();
  }
}
