import * as fs from "node:fs";
import * as path from "node:path";
import { openPdparamsFile } from "./pdparams.js";
import { openPytorchFile } from "./pytorch.js";
import { openSafetensorsFile } from "./safetensors.js";
import { zipDirectorySpan } from "./zip.js";
import {
  type CheckpointFormat,
  type OpenedFile,
  type OpenFile,
  type OpenOptions,
  type StoredTensor,
  type TensorSource,
  closeFile,
  openFile,
  readFully,
  sourceFromFile,
  sourceFromTensors,
} from "./tensor-source.js";

/** The weights of a checkpoint directory, and where they were read from. */
export interface Checkpoint extends TensorSource {
  /** The shard index that listed the files, or null for one file. */
  readonly index: string | null;
}

/** How each format names its weight files, in the order transformers and PaddleNLP look for them. */
interface FormatFiles {
  readonly format: CheckpointFormat;
  /** The one-file name. */
  readonly single: string;
  /** The shard index's name; the shards are the files its weight_map lists. */
  readonly index: string;
  /** Whether a file of the directory belongs to this format's weights (shards included). */
  readonly owns: (file: string) => boolean;
  readonly open: (file: string, options: OpenOptions) => OpenedFile;
}

const FORMATS: readonly FormatFiles[] = [
  {
    format: "safetensors",
    single: "model.safetensors",
    index: "model.safetensors.index.json",
    owns: (f) => f.endsWith(".safetensors") || f === "model.safetensors.index.json",
    open: openSafetensorsFile,
  },
  {
    format: "pytorch",
    single: "pytorch_model.bin",
    index: "pytorch_model.bin.index.json",
    // Only the model's own files: a Trainer's training_args.bin is a pickle too, and not weights.
    owns: (f) => /^pytorch_model(-\d+-of-\d+)?\.bin(\.index\.json)?$/.test(f),
    open: (file) => openPytorchFile(file),
  },
  {
    format: "pdparams",
    single: "model_state.pdparams",
    index: "model_state.pdparams.index.json",
    owns: (f) => /^model_state(-\d+-of-\d+)?\.pdparams(\.index\.json)?$/.test(f),
    open: openPdparamsFile,
  },
];

/** The format a weight file's name says. */
function formatOfFile(file: string): FormatFiles | null {
  const base = path.basename(file);
  if (base.endsWith(".safetensors")) return FORMATS[0]!;
  if (base.endsWith(".bin") || base.endsWith(".pt") || base.endsWith(".pth")) return FORMATS[1]!;
  if (base.endsWith(".pdparams")) return FORMATS[2]!;
  return null;
}

/**
 * Opens the weights of a checkpoint directory, reading only what says where
 * each tensor is. Formats: safetensors (Hugging Face's and PaddleNLP's),
 * PyTorch's `torch.save` zip (`pytorch_model.bin`) and PaddlePaddle's
 * `paddle.save` pickle (`model_state.pdparams`), each as one file or as the
 * shards its index lists (`<single name>.index.json`). A directory with a
 * complete safetensors checkpoint reads it, whatever else it holds (as
 * transformers does); any other directory with the files of more than one
 * format is refused: which to read would be a guess.
 * Safetensors alone keeps one more rule: the directory's only `*.safetensors`
 * file (an adapter's `adapter_model.safetensors`, say). A path to a weight
 * file opens that file.
 */
export function openCheckpoint(dir: string, options: OpenOptions = {}): Checkpoint {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (e) {
    throw new Error(`${dir}: cannot open checkpoint: ${(e as Error).message}`);
  }
  if (stat.isFile()) {
    const format = formatOfFile(dir);
    if (format === null) throw new Error(`${dir}: expected a checkpoint directory or a .safetensors, .bin or .pdparams file`);
    return { ...sourceFromFile(dir, format.format, format.open(dir, options)), index: null };
  }
  const files = fs.readdirSync(dir).sort();
  let present = FORMATS.filter((f) => files.some(f.owns));
  // A Hugging Face download often holds model.safetensors and pytorch_model.bin
  // side by side; transformers then reads the safetensors, and so does Oar,
  // provided its file or index is there to say which files to read.
  const safetensors = FORMATS[0]!;
  if (present.length > 1 && present[0] === safetensors && [safetensors.single, safetensors.index].some((f) => files.includes(f))) {
    present = [safetensors];
  }
  if (present.length > 1) {
    const list = present.map((f) => `${f.format} (${files.filter(f.owns).join(", ")})`).join("; ");
    throw new Error(`${dir}: holds weights in ${present.length} formats: ${list}; keep one format's files, so which weights to read is not a guess`);
  }
  const format = present[0];
  if (format === undefined) {
    throw new Error(`${dir}: no weights: none of ${FORMATS.flatMap((f) => [f.single, f.index]).join(", ")} (nor another .safetensors file)`);
  }
  const single = path.join(dir, format.single);
  if (fs.existsSync(single)) return { ...sourceFromFile(single, format.format, format.open(single, options)), index: null };
  const index = path.join(dir, format.index);
  if (fs.existsSync(index)) return openSharded(index, format, options);
  const candidates = files.filter((f) => f.endsWith(".safetensors"));
  if (format.format === "safetensors" && candidates.length === 1) {
    const file = path.join(dir, candidates[0]!);
    return { ...sourceFromFile(file, "safetensors", format.open(file, options)), index: null };
  }
  if (format.format === "safetensors") {
    throw new Error(`${dir}: ${candidates.length} .safetensors files (${candidates.join(", ")}) but no ${format.single} or ${format.index} to say which to use`);
  }
  throw new Error(`${dir}: ${files.filter(format.owns).join(", ")} but no ${format.single} or ${format.index} to say which files hold the weights`);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * A sharded checkpoint. The index is checked against the shards strictly:
 * every tensor lives in exactly one shard, and that is the shard weight_map
 * names for it; a tensor a shard holds but weight_map does not list is an
 * error too, since the two disagree about what the checkpoint is.
 * The metadata is the shards' metadata merged (in file name order), then the
 * index's `metadata` (non-string values as JSON, e.g. total_size).
 */
function openSharded(indexPath: string, format: FormatFiles, options: OpenOptions): Checkpoint {
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
    if (formatOfFile(shard)?.format !== format.format) {
      throw new Error(`${indexPath}: weight_map puts tensor "${tensor}" in ${shard}, which is not a ${format.format} file like the index (a mixed checkpoint)`);
    }
    shardNames.add(shard);
  }
  const dir = path.dirname(indexPath);
  const files: OpenFile[] = [];
  const tensors = new Map<string, StoredTensor>();
  const metadata = new Map<string, string>();
  try {
    for (const shard of [...shardNames].sort()) {
      const file = path.join(dir, shard);
      if (!fs.existsSync(file)) {
        const example = [...weightMap].find(([, s]) => s === shard)![0];
        throw new Error(`${indexPath}: weight_map puts tensor "${example}" in shard ${shard}, which does not exist`);
      }
      const opened = format.open(file, options);
      files.push(opened.handle);
      for (const [k, v] of opened.metadata) metadata.set(k, v);
      for (const [name, t] of opened.tensors) {
        const other = tensors.get(name);
        if (other !== undefined) {
          throw new Error(`${indexPath}: tensor "${name}" is in two shards, ${path.basename(other.info.file)} and ${shard}`);
        }
        tensors.set(name, t);
      }
    }
    for (const [name, t] of tensors) {
      const shard = path.basename(t.info.file);
      const listed = weightMap.get(name);
      if (listed === undefined) {
        throw new Error(`${indexPath}: shard ${shard} holds tensor "${name}", which weight_map does not list`);
      }
      if (listed !== shard) {
        throw new Error(`${indexPath}: weight_map puts tensor "${name}" in ${String(listed)}, but it is in shard ${shard}`);
      }
    }
    for (const [tensor, shard] of weightMap) {
      if (!tensors.has(tensor)) {
        throw new Error(`${indexPath}: weight_map puts tensor "${tensor}" in shard ${String(shard)}, which does not hold it`);
      }
    }
  } catch (e) {
    for (const f of files) closeFile(f);
    throw e;
  }
  for (const [k, v] of Object.entries(indexMeta)) metadata.set(k, typeof v === "string" ? v : JSON.stringify(v));
  return { ...sourceFromTensors(indexPath, format.format, tensors, files, metadata), index: indexPath };
}

/**
 * The bytes [start, end) of a weight file that say what it holds: a
 * safetensors file's length and JSON header (names, dtypes, shapes,
 * offsets); a torch zip's central directory and end records (every entry's
 * name, size and CRC-32, so the data too); all of a .pdparams pickle, whose
 * description and data are interleaved. A digest of them identifies the
 * file without hashing gigabytes of safetensors or torch data.
 */
export function describingBytes(file: string, format: CheckpointFormat): { readonly start: number; readonly end: number } {
  const handle = openFile(file);
  try {
    const fd = handle.fd!;
    const size = fs.fstatSync(fd).size;
    switch (format) {
      case "safetensors": {
        const len = new Uint8Array(8);
        readFully(fd, file, len, 0, "header length");
        const n = new DataView(len.buffer).getBigUint64(0, true);
        if (n > BigInt(size - 8)) throw new Error(`${file}: header length ${n} runs past the end of the file`);
        return { start: 0, end: 8 + Number(n) };
      }
      case "pytorch":
        return zipDirectorySpan(fd, file, size);
      case "pdparams":
        return { start: 0, end: size };
    }
  } finally {
    closeFile(handle);
  }
}
