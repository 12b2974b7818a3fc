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
 * The matrices of a layer that the decoder multiplies by one and the same x:
 * q, k and v; gate and up. Each group is stored as one matrix, its members'
 * rows one after another, so the backend computes a group in one pool call.
 */
function fusedGroups(cfg: DecoderConfig): string[][] {
  const groups: string[][] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    groups.push([`${p}.self_attn.q_proj.weight`, `${p}.self_attn.k_proj.weight`, `${p}.self_attn.v_proj.weight`]);
    groups.push([`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`]);
  }
  return groups;
}

/**
 * Loads every parameter into eager weights: vectors widened to f32, matrices
 * into the compute pool in `storage` (q/k/v and gate/up each as one matrix,
 * their members as `WeightRows` of it). Matrices already in the storage dtype
 * with no edit are read straight from the file into the pool's memory; others
 * pass through one f32 copy of that group alone, so peak memory stays near
 * the model's own size.
 */
export function loadEagerWeights(
  cfg: DecoderConfig,
  source: TensorSource,
  pool: ComputePool,
  storage: WeightStorage,
  options: { where: string; edit?: WeightEdit },
): Map<string, EagerWeight> {
  const params = new Map(checkCheckpoint(cfg, source, options.where).map((p) => [p.name, p]));
  const out = new Map<string, EagerWeight>();
  for (const group of fusedGroups(cfg)) {
    const members = group.map((name) => params.get(name)!);
    const matrix = loadMatrix(members, source, pool, storage, options.edit);
    let row = 0;
    for (const p of members) {
      out.set(p.name, { matrix, row, rows: p.shape[0]! });
      row += p.shape[0]!;
    }
  }
  for (const p of params.values()) {
    if (out.has(p.name)) continue;
    out.set(p.name, p.shape.length === 1 ? cast(source.read(p.name), "f32").data : loadMatrix([p], source, pool, storage, options.edit));
  }
  return out;
}

/** The matrices `members` (all [.., cols]) stacked by rows into one matrix in the pool. */
function loadMatrix(members: readonly ParamSpec[], source: TensorSource, pool: ComputePool, storage: WeightStorage, edit?: WeightEdit): DeviceWeight {
  const cols = members[0]!.shape[1]!;
  const rows = members.reduce((n, p) => n + p.shape[0]!, 0);
  const direct = storage.format !== "q8" && edit === undefined && members.every((p) => source.info(p.name).dtype === storage.format);
  if (direct) {
    return pool.allocWeight({ format: storage.format, rows, cols }, (dst) => {
      let at = 0;
      for (const p of members) {
        const bytes = source.info(p.name).byteLength;
        source.readInto(p.name, dst.data.subarray(at, at + bytes));
        at += bytes;
      }
    });
  }
  const f32 = members.length === 1 ? cast(source.read(members[0]!.name), "f32").data : new Float32Array(rows * cols);
  let row = 0;
  for (const p of members) {
    const part = members.length === 1 ? f32 : f32.subarray(row * cols, (row + p.shape[0]!) * cols);
    if (members.length > 1) part.set(cast(source.read(p.name), "f32").data);
    edit?.(p.name, part, p.shape);
    row += p.shape[0]!;
  }
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
