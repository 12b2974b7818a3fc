import { cast, tensor, type ComputePool, type DeviceWeight, type Tensor, type TensorSource, type WeightFormat } from "@oar/tensor";
import type { DecoderConfig } from "../config.js";
import { decoderParams, type ParamSpec } from "../weights.js";
import type { EagerWeight } from "./backend.js";

/** How the eager model stores its matrices. */
export type WeightStorage =
  | { readonly format: "f32" | "bf16" | "f16" }
  /**
   * Weight-only int8 with one f32 scale per `blockSize` inputs, or per output
   * channel ("channel": one scale per row, as PaddleNLP's weight_only_int8).
   */
  | { readonly format: "q8"; readonly blockSize: number | "channel" };

/** A change to a weight before it is stored: merged LoRA, for one. */
export type WeightEdit = (name: string, weight: Float32Array /* [out, in], edited in place */, shape: readonly number[]) => void;

/** Checks that the checkpoint has every tensor the config needs, with the right shapes; names the first that is wrong. */
export function checkCheckpoint(cfg: DecoderConfig, source: TensorSource, where: string): ParamSpec[] {
  const params = decoderParams(cfg);
  for (const p of params) {
    if (!source.has(p.name)) {
      throw new Error(`${where}: tensor "${p.name}" is missing (needed by ${cfg.architecture} with this config.json)`);
    }
    const info = source.info(p.name);
    if (info.shape.length !== p.shape.length || info.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(`${where}: tensor "${p.name}" has shape [${info.shape.join(", ")}], config.json says [${p.shape.join(", ")}]`);
    }
    if (info.dtype !== "f32" && info.dtype !== "f16" && info.dtype !== "bf16") {
      throw new Error(`${where}: tensor "${p.name}" is ${info.dtype}; weights must be f32, f16 or bf16`);
    }
  }
  return params;
}

/**
 * Loads every parameter into eager weights: vectors widened to f32, matrices
 * into the compute pool in `storage`. A matrix already in the storage dtype
 * with no edit is read straight from the file into the pool's memory; others
 * pass through one f32 copy of that tensor alone, so peak memory stays near
 * the model's own size.
 */
export function loadEagerWeights(
  cfg: DecoderConfig,
  source: TensorSource,
  pool: ComputePool,
  storage: WeightStorage,
  options: { where: string; edit?: WeightEdit },
): Map<string, EagerWeight> {
  const params = checkCheckpoint(cfg, source, options.where);
  const out = new Map<string, EagerWeight>();
  for (const p of params) {
    if (p.shape.length === 1) {
      out.set(p.name, cast(source.read(p.name), "f32").data);
      continue;
    }
    out.set(p.name, loadMatrix(p, source, pool, storage, options.edit));
  }
  return out;
}

function loadMatrix(p: ParamSpec, source: TensorSource, pool: ComputePool, storage: WeightStorage, edit?: WeightEdit): DeviceWeight {
  const [rows, cols] = p.shape as [number, number];
  const info = source.info(p.name);
  if (storage.format !== "q8" && edit === undefined && info.dtype === storage.format) {
    return pool.allocWeight({ format: storage.format, rows, cols }, (dst) => source.readInto(p.name, dst.data));
  }
  const f32 = cast(source.read(p.name), "f32").data;
  edit?.(p.name, f32, p.shape);
  return storeMatrix(pool, f32, rows, cols, storage);
}

/** Puts an f32 matrix [rows, cols] into the pool in `storage`. */
export function storeMatrix(pool: ComputePool, f32: Float32Array, rows: number, cols: number, storage: WeightStorage): DeviceWeight {
  const format: WeightFormat = storage.format;
  switch (storage.format) {
    case "q8": {
      // The int8 kernels need whole blocks of a multiple of 8 along K; a matrix whose width has none
      // (stories260K's 172-wide down_proj) stays in f32 rather than failing the whole load.
      const blockSize = storage.blockSize === "channel" ? cols : storage.blockSize;
      if (cols % blockSize !== 0 || blockSize % 8 !== 0) return storeMatrix(pool, f32, rows, cols, { format: "f32" });
      return pool.quantizeWeight(rows, cols, blockSize, (row, o) => o.set(f32.subarray(row * cols, (row + 1) * cols)));
    }
    case "f32":
    case "bf16":
    case "f16": {
      const t: Tensor = cast(tensor("f32", [rows, cols], f32), storage.format);
      return pool.allocWeight({ format, rows, cols }, (dst) => dst.data.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
    }
  }
}
