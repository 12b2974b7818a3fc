import * as path from "node:path";
import { type Tensor, cast, writeSafetensors } from "@oar/tensor";
import type { DecoderConfig, PrefixCache } from "@oar/modeling";
import { type GraphDType, pastName } from "../trace/io.js";

/** The file a prefix's keys and values are written to, beside the graph. */
export const PREFIX_FILE = "prefix_kv.safetensors";

/**
 * Writes a prefix (prefix tuning) as the past a graph is fed before the
 * first token: one tensor per layer and kind, named like the graph input it
 * feeds ("past_key_values.3.key"), [kv_heads, prefix_length, head_dim] in the
 * graph's dtype. A runtime adds the batch dimension (the same prefix for
 * every sequence) and feeds it as past_key_values on the first step.
 */
export function writePrefixKv(dir: string, prefix: PrefixCache, cfg: DecoderConfig, dtype: GraphDType): string {
  const { numLayers, numKvHeads, headDim } = cfg;
  const length = prefix.length;
  const tensors: [string, Tensor][] = [];
  for (let l = 0; l < numLayers; l++) {
    for (const [kind, rows] of [["key", prefix.keys[l]], ["value", prefix.values[l]]] as const) {
      if (rows === undefined || rows.length !== length * numKvHeads * headDim) {
        throw new Error(`prefix: layer ${l} ${kind}s must be [${length}, ${numKvHeads * headDim}], got ${rows?.length ?? "nothing"} floats`);
      }
      const heads = new Float32Array(rows.length); // [kv_heads, length, head_dim] from [length, kv_heads*head_dim]
      for (let p = 0; p < length; p++) {
        for (let h = 0; h < numKvHeads; h++) {
          heads.set(rows.subarray((p * numKvHeads + h) * headDim, (p * numKvHeads + h + 1) * headDim), (h * length + p) * headDim);
        }
      }
      tensors.push([pastName(l, kind), cast({ dtype: "f32", shape: [numKvHeads, length, headDim], data: heads }, dtype)]);
    }
  }
  const file = path.join(dir, PREFIX_FILE);
  writeSafetensors(file, tensors, { format: "oar-prefix-kv", prefix_length: String(length) });
  return file;
}
