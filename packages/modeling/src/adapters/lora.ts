import type { UnmergedLora } from "../eager/model.js";
import type { WeightEdit } from "../eager/load-weights.js";
import { AdapterError } from "./errors.js";

/**
 * One LoRA update of one linear layer, in Hugging Face layout, whatever
 * format it was read from: y = x W^T + scale * (x A^T) B^T, or merged,
 * W += scale * B A.
 */
export interface LoraLayer {
  /** Hugging Face module name, e.g. "model.layers.0.self_attn.q_proj". */
  readonly module: string;
  readonly rank: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly a: Float32Array; // [rank, inFeatures]
  readonly b: Float32Array; // [outFeatures, rank]
  readonly scale: number;
  /** The file and tensors it was read from, for messages. */
  readonly source: string;
}

/** LoRA's scaling: alpha / r, or alpha / sqrt(r) for rank-stabilized LoRA (rsLoRA). */
export function loraScale(options: { readonly alpha: number; readonly rank: number; readonly rslora: boolean }): number {
  return options.rslora ? options.alpha / Math.sqrt(options.rank) : options.alpha / options.rank;
}

/**
 * The weight edit that merges `layers` into the base weights at load:
 * W[out, in] += scale * B A for each layer of that module, in the order
 * given (adapters stack by adding). The update is summed in double
 * precision, then added to the f32 weight once.
 */
export function mergeLora(layers: readonly LoraLayer[]): WeightEdit {
  const byWeight = new Map<string, LoraLayer[]>();
  for (const l of layers) {
    const name = `${l.module}.weight`;
    const list = byWeight.get(name) ?? [];
    list.push(l);
    byWeight.set(name, list);
  }
  return (name, weight, shape) => {
    const list = byWeight.get(name);
    if (list === undefined) return;
    const [rows, cols] = shape as [number, number];
    const delta = new Float64Array(cols); // [in]
    for (let o = 0; o < rows; o++) {
      delta.fill(0);
      for (const l of list) {
        if (l.outFeatures !== rows || l.inFeatures !== cols) {
          throw new AdapterError(`${l.source}: LoRA for ${l.module} is [${l.outFeatures}, ${l.inFeatures}], the weight ${name} is [${shape.join(", ")}]`);
        }
        for (let k = 0; k < l.rank; k++) {
          const c = l.scale * l.b[o * l.rank + k]!;
          if (c === 0) continue;
          const a = l.a.subarray(k * cols, (k + 1) * cols);
          for (let i = 0; i < cols; i++) delta[i]! += c * a[i]!;
        }
      }
      const row = o * cols;
      for (let i = 0; i < cols; i++) weight[row + i]! += delta[i]!;
    }
  };
}

/** The layers as the eager model's unmerged hook takes them: y += scale * (x A^T) B^T beside each weight. */
export function unmergedLora(layers: readonly LoraLayer[]): UnmergedLora[] {
  return layers.map((l) => ({ module: l.module, a: l.a, b: l.b, rank: l.rank, scale: l.scale }));
}
