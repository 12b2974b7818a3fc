import * as fs from "node:fs";
import * as path from "node:path";
import { type OpenFile, type TensorInfo, type TensorSource, openSafetensors, openSafetensorsFile, sourceFromInfos } from "./safetensors.js";

/** The Hugging Face file names, in the order transformers looks for them. */
const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";

/**
 * Opens the weights of a Hugging Face checkpoint directory, reading only the
 * headers: `dir/model.safetensors`; else the shards that
 * `dir/model.safetensors.index.json` lists; else the directory's only
 * `*.safetensors` file (an adapter directory's `adapter_model.safetensors`,
 * say). A path to a `.safetensors` file opens that file.
 */
export function openCheckpoint(dir: string): TensorSource {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (e) {
    throw new Error(`${dir}: cannot open checkpoint: ${(e as Error).message}`);
  }
  if (stat.isFile()) {
    if (dir.endsWith(".safetensors")) return openSafetensors(dir);
    throw new Error(`${dir}: expected a checkpoint directory or a .safetensors file`);
  }
  const single = path.join(dir, SINGLE);
  if (fs.existsSync(single)) return openSafetensors(single);
  const index = path.join(dir, INDEX);
  if (fs.existsSync(index)) return openSharded(index);
  const candidates = fs.readdirSync(dir).filter((f) => f.endsWith(".safetensors")).sort();
  if (candidates.length === 1) return openSafetensors(path.join(dir, candidates[0]!));
  if (candidates.length === 0) {
    throw new Error(`${dir}: no ${SINGLE}, no ${INDEX} and no other .safetensors file: not a safetensors checkpoint`);
  }
  throw new Error(`${dir}: ${candidates.length} .safetensors files (${candidates.join(", ")}) but no ${SINGLE} or ${INDEX} to say which to use`);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * A sharded checkpoint. The index is checked against the shards strictly:
 * every tensor lives in exactly one shard, and that is the shard weight_map
 * names for it; a tensor a shard holds but weight_map does not list is an
 * error too, since the two disagree about what the checkpoint is.
 * The metadata is the shards' `__metadata__` merged (in file name order),
 * then the index's `metadata` (non-string values as JSON, e.g. total_size).
 */
function openSharded(indexPath: string): TensorSource {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  } catch (e) {
    throw new Error(`${indexPath}: not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(index) || !isPlainObject(index["weight_map"])) {
    throw new Error(`${indexPath}: expected an object with a "weight_map" object of tensor name -> shard file`);
  }
  const weightMap = new Map(Object.entries(index["weight_map"]));
  const indexMeta = index["metadata"] ?? {};
  if (!isPlainObject(indexMeta)) throw new Error(`${indexPath}: "metadata" must be an object`);
  const shardNames = new Set<string>();
  for (const [tensor, shard] of weightMap) {
    if (typeof shard !== "string" || shard === "" || shard.includes("/") || shard.includes("\\") || shard === "." || shard === "..") {
      throw new Error(`${indexPath}: weight_map maps tensor "${tensor}" to ${JSON.stringify(shard)}, not a file name in the checkpoint directory`);
    }
    shardNames.add(shard);
  }
  const dir = path.dirname(indexPath);
  const files = new Map<string, OpenFile>();
  const infos = new Map<string, TensorInfo>();
  const metadata = new Map<string, string>();
  try {
    for (const shard of [...shardNames].sort()) {
      const file = path.join(dir, shard);
      if (!fs.existsSync(file)) {
        const example = [...weightMap].find(([, s]) => s === shard)![0];
        throw new Error(`${indexPath}: weight_map puts tensor "${example}" in shard ${shard}, which does not exist`);
      }
      const { parsed, handle } = openSafetensorsFile(file);
      files.set(file, handle);
      for (const [k, v] of parsed.metadata) metadata.set(k, v);
      for (const [name, info] of parsed.tensors) {
        const other = infos.get(name);
        if (other !== undefined) {
          throw new Error(`${indexPath}: tensor "${name}" is in two shards, ${path.basename(other.file)} and ${shard}`);
        }
        infos.set(name, info);
      }
    }
    for (const [name, info] of infos) {
      const shard = path.basename(info.file);
      const listed = weightMap.get(name);
      if (listed === undefined) {
        throw new Error(`${indexPath}: shard ${shard} holds tensor "${name}", which weight_map does not list`);
      }
      if (listed !== shard) {
        throw new Error(`${indexPath}: weight_map puts tensor "${name}" in ${String(listed)}, but it is in shard ${shard}`);
      }
    }
    for (const [tensor, shard] of weightMap) {
      if (!infos.has(tensor)) {
        throw new Error(`${indexPath}: weight_map puts tensor "${tensor}" in shard ${String(shard)}, which does not hold it`);
      }
    }
  } catch (e) {
    for (const f of files.values()) {
      if (f.fd !== null) fs.closeSync(f.fd);
    }
    throw e;
  }
  for (const [k, v] of Object.entries(indexMeta)) metadata.set(k, typeof v === "string" ? v : JSON.stringify(v));
  return sourceFromInfos(indexPath, infos, files, metadata);
}
