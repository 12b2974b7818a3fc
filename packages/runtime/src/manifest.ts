/**
 * Reads oar_inference.json, the file export-model writes beside the graph,
 * into what the runtime needs to feed the graph: sizes, the KV interface
 * and its input/output names, the prefix, the attention convention. The
 * runtime reads nothing else about the model. Every problem is one line
 * naming the file and the key.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { assertNever } from "@oar/tensor";

export const MANIFEST_FILE = "oar_inference.json";
const FORMAT = "oar-inference";
/** The format_version this runtime reads. */
export const FORMAT_VERSION = 1;


/** Element types of KV the runtime can hold and feed. */
export type KvType = "float32" | "float16";

/** Names of one layer's KV tensors of one kind, by layer. */
export interface KvNames {
  readonly key: (layer: number) => string;
  readonly value: (layer: number) => string;
}

/** How the graph takes and returns KV (see @oar/export's trace/kv-io.ts), with the names of its KV inputs and outputs. */
export type KvInterface =
  /** Past inputs, present (past + new) outputs. */
  | { readonly io: "present"; readonly past: KvNames; readonly present: KvNames }
  /** The same, and the step's own KV as outputs. */
  | { readonly io: "present+new"; readonly past: KvNames; readonly present: KvNames; readonly fresh: KvNames }
  /** Block attention: block tables and per-layer pools in, the step's own KV out. */
  | { readonly io: "blocks"; readonly tables: string; readonly pools: KvNames; readonly fresh: KvNames; readonly blockSize: number };

export interface Manifest {
  readonly dir: string;
  /** oar_inference.json's path, for messages. */
  readonly file: string;
  /** The graph file. */
  readonly model: string;
  readonly vocabSize: number;
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly kvType: KvType;
  readonly kv: KvInterface;
  /** The scalar input limiting logits to the last rows, or null when the graph returns every row. */
  readonly numLogitsToKeep: string | null;
  /** Positions a sequence may hold, prefix included. */
  readonly maxPositions: number;
  /** Prefix tuning: its KV file ([kv_heads, length, head_dim] per past input name) and length. */
  readonly prefix: { readonly file: string; readonly length: number } | null;
  /**
   * The fused attention's limit (GroupQueryAttention on CPU): a step of
   * several tokens over a non-empty past must run one sequence at a time.
   */
  readonly multiTokenPastNeedsBatchOne: boolean;
  /** What export-model was asked for, for the model's description. */
  readonly exported: { readonly dtype: string; readonly quantType: string | null; readonly inferenceModel: boolean };
}

/** The graph inputs every decoder of the convention has. */
export const INPUT_IDS = "input_ids";
export const ATTENTION_MASK = "attention_mask";
export const POSITION_IDS = "position_ids";
export const LOGITS = "logits";

/**
 * Whether `dir` is an inference directory written by export-model (it holds
 * oar_inference.json), which static mode runs; a checkpoint has none. The
 * one test the apps use to choose a mode.
 */
export function isInferenceDirectory(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST_FILE));
}

/** Reads and checks `dir`'s oar_inference.json and that the files it names are there. */
export function readManifest(dir: string): Manifest {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new Error(`${dir}: no such directory`);
  }
  if (!stat.isDirectory()) throw new Error(`${dir}: not a directory`);
  const file = path.join(dir, MANIFEST_FILE);
  if (!fs.existsSync(file)) {
    const checkpoint = fs.existsSync(path.join(dir, "config.json"));
    throw new Error(
      checkpoint
        ? `${dir}: a checkpoint directory, not an inference directory (no ${MANIFEST_FILE}); export it first with export-model, or run it in dynamic mode`
        : `${dir}: no ${MANIFEST_FILE}, so not an inference directory written by export-model`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = new Reader(file, json);
  const format = r.string("format");
  if (format !== FORMAT) throw new Error(`${file}: format is ${JSON.stringify(format)}, expected "${FORMAT}"`);
  const version = r.integer("format_version");
  if (version !== FORMAT_VERSION) {
    throw new Error(`${file}: format_version ${version} is not the one this runtime reads (${FORMAT_VERSION}); export the model again with the matching export-model`);
  }
  const model = r.file(dir, "graph.file");
  // The weights must be there too: onnxruntime's message for a missing data file does not say which.
  r.nullable("graph.external_data", () => r.file(dir, "graph.external_data"));
  const inputs = r.names("graph.inputs");
  const outputs = r.names("graph.outputs");
  for (const name of [INPUT_IDS, ATTENTION_MASK, POSITION_IDS]) {
    if (!inputs.includes(name)) throw new Error(`${file}: graph.inputs lacks ${name}, which every Oar decoder graph has`);
  }
  if (!outputs.includes(LOGITS)) throw new Error(`${file}: graph.outputs lacks ${LOGITS}`);

  const io = r.oneOf("kv_cache.io", ["present", "present+new", "blocks"] as const);
  const names = (keyKey: string, valueKey: string, where: readonly string[]): KvNames | null => {
    const key = r.nullable(keyKey, () => r.string(keyKey));
    const value = r.nullable(valueKey, () => r.string(valueKey));
    if (key === null || value === null) return null;
    const kv = { key: (l: number) => key.replace("{layer}", String(l)), value: (l: number) => value.replace("{layer}", String(l)) };
    if (!where.includes(kv.key(0)) || !where.includes(kv.value(0))) throw new Error(`${file}: ${keyKey} / ${valueKey} name no tensor of the graph (${kv.key(0)})`);
    return kv;
  };
  const past = names("kv_cache.past_key", "kv_cache.past_value", inputs);
  const present = names("kv_cache.present_key", "kv_cache.present_value", outputs);
  const fresh = names("kv_cache.new_key", "kv_cache.new_value", outputs);
  const pools = names("kv_cache.key_cache", "kv_cache.value_cache", inputs);
  const tables = r.nullable("kv_cache.block_tables", () => r.string("kv_cache.block_tables"));
  const missing = (what: string): never => {
    throw new Error(`${file}: kv_cache.io is "${io}" but kv_cache.${what} is null`);
  };
  let kv: KvInterface;
  switch (io) {
    case "present":
      kv = { io, past: past ?? missing("past_key"), present: present ?? missing("present_key") };
      break;
    case "present+new":
      kv = { io, past: past ?? missing("past_key"), present: present ?? missing("present_key"), fresh: fresh ?? missing("new_key") };
      break;
    case "blocks": {
      const blockSize = r.integer("block_attention.block_size");
      if (blockSize < 1) throw new Error(`${file}: block_attention.block_size must be positive, got ${blockSize}`);
      kv = { io, tables: tables ?? missing("block_tables"), pools: pools ?? missing("key_cache"), fresh: fresh ?? missing("new_key"), blockSize };
      break;
    }
    default:
      return assertNever(io);
  }
  const kvType = r.string("kv_cache.dtype");
  if (kvType !== "float32" && kvType !== "float16") {
    throw new Error(`${file}: the KV cache is ${kvType}; onnxruntime-node feeds float32 and float16 tensors only (export with --dtype float32 or float16)`);
  }
  const logitsKeep = r.nullable("feeds.num_logits_to_keep", () => r.string("feeds.num_logits_to_keep.name"));
  const prefixLength = r.nullable("adapters.prefix", () => r.integer("adapters.prefix.length"));
  const prefix = prefixLength === null ? null : { file: r.file(dir, "adapters.prefix.kv_file"), length: prefixLength };
  const attention = r.optionalObject("graph.metadata.oar.attention");
  return {
    dir,
    file,
    model,
    vocabSize: r.integer("model.vocab_size"),
    numLayers: r.integer("kv_cache.num_layers"),
    numKvHeads: r.integer("kv_cache.num_kv_heads"),
    headDim: r.integer("kv_cache.head_dim"),
    kvType,
    kv,
    numLogitsToKeep: logitsKeep,
    maxPositions: r.integer("max_positions"),
    prefix,
    multiTokenPastNeedsBatchOne: attention?.["multiTokenStepWithPast"] === "batch-size-1-only",
    exported: {
      dtype: r.string("dtype"),
      quantType: r.nullable("quant_type", () => r.string("quant_type")),
      inferenceModel: r.boolean("inference_model"),
    },
  };
}

/** Typed reads of dotted keys, each failure one line naming the file and key. */
class Reader {
  readonly #file: string;
  readonly #json: unknown;

  constructor(file: string, json: unknown) {
    this.#file = file;
    this.#json = json;
  }

  #get(key: string): unknown {
    // Metadata keys contain dots themselves ("oar.attention"): match the longest key at each level.
    let at: unknown = this.#json;
    let rest = key;
    while (rest !== "") {
      if (typeof at !== "object" || at === null) return undefined;
      const obj = at as Record<string, unknown>;
      const parts = rest.split(".");
      let found = false;
      for (let n = parts.length; n >= 1; n--) {
        const k = parts.slice(0, n).join(".");
        if (k in obj) {
          at = obj[k];
          rest = parts.slice(n).join(".");
          found = true;
          break;
        }
      }
      if (!found) return undefined;
    }
    return at;
  }

  #fail(key: string, expected: string): never {
    const v = this.#get(key);
    throw new Error(`${this.#file}: ${key} must be ${expected}, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
  }

  string(key: string): string {
    const v = this.#get(key);
    return typeof v === "string" ? v : this.#fail(key, "a string");
  }

  integer(key: string): number {
    const v = this.#get(key);
    return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : this.#fail(key, "a non-negative integer");
  }

  boolean(key: string): boolean {
    const v = this.#get(key);
    return typeof v === "boolean" ? v : this.#fail(key, "true or false");
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.#get(key);
    return values.includes(v as T) ? (v as T) : this.#fail(key, values.map((x) => JSON.stringify(x)).join(" or "));
  }

  nullable<T>(key: string, read: () => T): T | null {
    const v = this.#get(key);
    if (v === undefined) this.#fail(key, "present (null when absent)");
    return v === null ? null : read();
  }

  optionalObject(key: string): Record<string, unknown> | null {
    const v = this.#get(key);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
  }

  names(key: string): string[] {
    const v = this.#get(key);
    if (!Array.isArray(v) || !v.every((x) => typeof x === "object" && x !== null && typeof (x as { name?: unknown }).name === "string")) {
      return this.#fail(key, "a list of { name, dtype, shape }");
    }
    return v.map((x) => (x as { name: string }).name);
  }

  /** A file of the directory named at `key`; it must exist. */
  file(dir: string, key: string): string {
    const name = this.string(key);
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) throw new Error(`${p}: missing (${MANIFEST_FILE} names it as ${key}); export the model again`);
    return p;
  }
}
