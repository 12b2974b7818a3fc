import * as fs from "node:fs";
import * as path from "node:path";
import { cast, openSafetensors, shapeString, type TensorInfo, type TensorSource } from "@oar/tensor";
import { AdapterError } from "./errors.js";

/**
 * The tensors of an adapter: one safetensors file, or shards listed by an
 * index (`weight_map`: tensor name -> shard file, as in Hugging Face
 * checkpoints). Every read is counted, so a loader can insist that it used
 * every tensor the file holds: a tensor nobody reads is a feature of the
 * adapter that Oar would otherwise silently drop.
 */
export interface AdapterTensors {
  /** The file or index, for messages. */
  readonly where: string;
  readonly names: readonly string[];
  /** The safetensors files, by name, in the order opened. */
  readonly files: readonly string[];
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** The tensor widened to f32, after checking it has `shape`; `what` says what it is for the message. */
  read(name: string, shape: readonly number[], what: string): Float32Array; // [numel(shape)]
  /** Throws naming the first tensor that was never read. */
  checkAllRead(hint: string): void;
  close(): void;
}

/** Opens one safetensors file. */
export function openAdapterFile(file: string): AdapterTensors {
  let source: TensorSource;
  try {
    source = openSafetensors(file);
  } catch (e) {
    throw new AdapterError((e as Error).message);
  }
  return tracked(file, new Map(source.names.map((n) => [n, source])), new Map([[path.basename(file), source]]));
}

/**
 * Opens the shards an index lists. The index and the shards must agree
 * exactly: each tensor in the shard the index names, no tensor outside the
 * index, no shard missing.
 */
export function openAdapterShards(indexFile: string): AdapterTensors {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, "utf8"));
  } catch (e) {
    throw new AdapterError(`${indexFile}: cannot be read as JSON: ${(e as Error).message}`);
  }
  const map = typeof index === "object" && index !== null ? (index as Record<string, unknown>)["weight_map"] : undefined;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new AdapterError(`${indexFile}: expected an object with a "weight_map" object of tensor name -> shard file`);
  }
  const weightMap = new Map(Object.entries(map as Record<string, unknown>));
  const shards = new Map<string, TensorSource>();
  const byName = new Map<string, TensorSource>();
  const dir = path.dirname(indexFile);
  try {
    for (const [tensor, shard] of weightMap) {
      if (typeof shard !== "string" || shard === "" || shard !== path.basename(shard) || shard === "." || shard === "..") {
        throw new AdapterError(`${indexFile}: weight_map maps "${tensor}" to ${JSON.stringify(shard)}, not a file name in ${dir}`);
      }
      let source = shards.get(shard);
      if (source === undefined) {
        const file = path.join(dir, shard);
        if (!fs.existsSync(file)) throw new AdapterError(`${indexFile}: weight_map puts "${tensor}" in ${shard}, which does not exist`);
        try {
          source = openSafetensors(file);
        } catch (e) {
          throw new AdapterError((e as Error).message);
        }
        shards.set(shard, source);
      }
      if (!source.has(tensor)) throw new AdapterError(`${indexFile}: weight_map puts "${tensor}" in ${shard}, which does not hold it`);
      byName.set(tensor, source);
    }
    for (const [shard, source] of shards) {
      for (const n of source.names) {
        if (byName.get(n) !== source) throw new AdapterError(`${indexFile}: shard ${shard} holds "${n}", which weight_map does not put there`);
      }
    }
  } catch (e) {
    for (const s of shards.values()) s.close();
    throw e;
  }
  return tracked(indexFile, byName, shards);
}

function tracked(where: string, byName: ReadonlyMap<string, TensorSource>, sources: ReadonlyMap<string, TensorSource>): AdapterTensors {
  const read = new Set<string>();
  const names = [...byName.keys()].sort();
  const sourceOf = (name: string): TensorSource => {
    const s = byName.get(name);
    if (s === undefined) throw new AdapterError(`${where}: tensor "${name}" is missing`);
    return s;
  };
  return {
    where,
    names,
    files: [...sources.keys()],
    has: (name) => byName.has(name),
    info: (name) => sourceOf(name).info(name),
    read(name, shape, what) {
      const source = sourceOf(name);
      const info = source.info(name);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new AdapterError(`${where}: tensor "${name}" (${what}) has shape ${shapeString(info.shape)}, expected ${shapeString(shape)}`);
      }
      if (info.dtype !== "f32" && info.dtype !== "f16" && info.dtype !== "bf16") {
        throw new AdapterError(`${where}: tensor "${name}" is ${info.dtype}; adapter weights must be f32, f16 or bf16`);
      }
      read.add(name);
      return cast(source.read(name), "f32").data;
    },
    checkAllRead(hint) {
      const unused = names.find((n) => !read.has(n));
      if (unused !== undefined) throw new AdapterError(`${where}: tensor "${unused}" is not used: ${hint}`);
    },
    close() {
      for (const s of sources.values()) s.close();
    },
  };
}
