import { type CheckpointFormat, type DType, assertNever } from "@oar/tensor";
import type { AdapterFormat, WeightNaming } from "@oar/modeling";
import type { Graph } from "../ir/graph.js";
import type { Dim } from "../ir/shape.js";
import type { PipelineReport } from "../rewrite/manager.js";
import type { WeightFileDigest } from "./source-files.js";

/*
 * oar_inference.json: what a runtime needs to drive the graph of an
 * inference directory without reading anything else (the static runtime
 * does not import @oar/modeling), and where the directory came from.
 * Keys are snake_case, as in Hugging Face's JSON files.
 */

export const OAR_INFERENCE_FILE = "oar_inference.json";
export const OAR_INFERENCE_FORMAT = "oar-inference";
/** Bumped when a key changes meaning or disappears; new keys do not bump it. */
export const OAR_INFERENCE_VERSION = 1;

/** The graph's element type, as the export-model flag spells it. */
export type ExportDType = "float32" | "float16" | "bfloat16";
export type QuantType = "weight_only_int8" | "weight_only_int4" | "a8w8";

/** A graph input or output: its name, its element type as onnxruntime names it, and its shape (numbers, symbols, null unknown). */
export interface TensorIo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly Dim[] | null;
}

export interface PassRecord {
  readonly pass: string;
  readonly fired: number;
  readonly rejected: number;
}

export interface PipelineRecord {
  readonly pipeline: string;
  readonly iterations: number;
  readonly passes: readonly PassRecord[];
}

export interface AdapterFileRecord {
  readonly file: string;
  readonly sha256: string;
}

export interface AdapterRecord {
  /** The adapter directory as given. */
  readonly dir: string;
  readonly format: AdapterFormat;
  readonly files: readonly AdapterFileRecord[];
}

export interface OarInference {
  readonly format: typeof OAR_INFERENCE_FORMAT;
  readonly format_version: number;
  readonly exporter: { readonly name: string; readonly version: string };
  readonly model: {
    readonly architecture: string;
    readonly family: string;
    readonly vocab_size: number;
    readonly hidden_size: number;
    readonly intermediate_size: number;
    readonly num_layers: number;
    readonly num_heads: number;
    readonly num_kv_heads: number;
    readonly head_dim: number;
    readonly rope_theta: number;
    readonly rms_norm_eps: number;
    readonly tie_word_embeddings: boolean;
    readonly bos_token_id: number | null;
    readonly eos_token_ids: readonly number[];
  };
  /** Element type of weights, activations and KV (logits are float32 whatever it is). */
  readonly dtype: ExportDType;
  readonly quant_type: QuantType | null;
  /** How the weights ended up quantized (read from the graph); null without quant_type. */
  readonly quantization: {
    /** Elements per scale of MatMulNBits / GatherBlockQuantized; null when only per-column DynamicQuantizeMatMul. */
    readonly block_size: number | null;
    /** No zero points anywhere. */
    readonly symmetric: boolean;
    /** MatMulNBits' accuracy_level (4: int8 activations), null without MatMulNBits. */
    readonly accuracy_level: number | null;
    readonly quantized_matmuls: number;
    readonly quantized_embeddings: number;
  } | null;
  /** Whether the fusion passes ran (PaddleNLP's --inference_model). */
  readonly inference_model: boolean;
  /** Every pipeline run on the graph, in order, with each pass's fire and rejection counts. */
  readonly passes: readonly PipelineRecord[];
  readonly graph: {
    readonly file: string;
    /** The external data file beside it, or null when the weights are inside the model. */
    readonly external_data: string | null;
    /** Opset per domain ("ai.onnx", "com.microsoft"). */
    readonly opsets: Readonly<Record<string, number>>;
    readonly inputs: readonly TensorIo[];
    readonly outputs: readonly TensorIo[];
    readonly node_count: number;
    readonly op_counts: Readonly<Record<string, number>>;
    readonly weight_bytes: number;
    /**
     * The model's metadata_props, a value holding a JSON object or array parsed: passes
     * record there what a runtime must know of their output (the fused
     * attention's convention under "oar.attention").
     */
    readonly metadata: Readonly<Record<string, unknown>>;
  };
  readonly kv_cache: {
    readonly num_layers: number;
    readonly num_kv_heads: number;
    readonly head_dim: number;
    readonly dtype: string;
    /**
     * How the graph takes and returns KV (trace/kv-io.ts): "present" (past in, present out), "present+new" (also
     * the step's own KV out), "blocks" (block attention: pools and block tables in, the step's own KV out).
     */
    readonly io: "present" | "present+new" | "blocks";
    /** Axes of every past, present and new tensor. */
    readonly layout: readonly string[];
    /** Input names, with {layer} for the layer index: "past_key_values.{layer}.key"; null for block attention. */
    readonly past_key: string | null;
    readonly past_value: string | null;
    /** Output names of past + new: "present.{layer}.key"; null for block attention. */
    readonly present_key: string | null;
    readonly present_value: string | null;
    /** Output names of the step's own KV, [batch_size, num_kv_heads, sequence_length, head_dim]: "new_key_values.{layer}.key"; null with io "present". */
    readonly new_key: string | null;
    readonly new_value: string | null;
    /** Block attention: the int64 [batch_size, max_blocks] input of each row's blocks in order ("block_tables"), else null. */
    readonly block_tables: string | null;
    /** Block attention: the pool inputs, [num_blocks, num_kv_heads, block_size, head_dim] ("key_cache.{layer}"), else null. */
    readonly key_cache: string | null;
    readonly value_cache: string | null;
  };
  /** How the graph expects to be fed. */
  readonly feeds: {
    readonly padding_side: "left";
    readonly attention_mask: string;
    readonly position_ids: string;
    /** The input that limits logits to the last rows, or null when the graph computes every row. */
    readonly num_logits_to_keep: { readonly name: string; readonly dtype: "int64"; readonly shape: readonly []; readonly zero_keeps_all: true } | null;
  };
  /** Positions a sequence may hold, prefix included (config.json's max_position_embeddings). */
  readonly max_positions: number;
  /** PaddleNLP's --src_length and --max_length (prompt tokens kept, new tokens at most), null when not given. */
  readonly src_length: number | null;
  readonly max_length: number | null;
  readonly block_attention: { readonly enabled: boolean; readonly block_size: number | null };
  readonly adapters: {
    /** LoRA adapters merged into the weights, in the order given. */
    readonly lora: readonly AdapterRecord[];
    /** A prefix fed as past before every sequence, or null. */
    readonly prefix:
      | (AdapterRecord & {
          /** Beside the graph: one tensor per graph past input, named like it, [kv_heads, length, head_dim]. */
          readonly kv_file: string;
          readonly length: number;
          /** Positions the prefix takes: the first real token's position id and its attention_mask offset. */
          readonly position_offset: number;
        })
      | null;
  };
  readonly source: {
    /** The checkpoint directory as given. */
    readonly model_dir: string;
    readonly config_sha256: string;
    /** sha256 of the shard index (model.safetensors.index.json, ...) for a sharded checkpoint. */
    readonly index_sha256: string | null;
    readonly weights: readonly WeightFileDigest[];
    /** The weights' file format, and their layout: Hugging Face's, or PaddleNLP's names and [in, out] linear weights. */
    readonly weight_format: { readonly files: CheckpointFormat; readonly naming: WeightNaming };
    readonly torch_dtype: string | null;
  };
  /** Files copied from the source beside the graph. */
  readonly files: { readonly model: readonly string[]; readonly tokenizer: readonly string[] };
}

/** onnxruntime's name for an element type ("float32", "int64"), as its JS API spells tensor types. */
export function ortTypeName(dtype: DType): string {
  switch (dtype) {
    case "f32":
      return "float32";
    case "f16":
      return "float16";
    case "bf16":
      return "bfloat16";
    case "f64":
      return "float64";
    case "i64":
      return "int64";
    case "i32":
      return "int32";
    case "i16":
      return "int16";
    case "i8":
      return "int8";
    case "u8":
      return "uint8";
    case "bool":
      return "bool";
    default:
      return assertNever(dtype);
  }
}

/** The graph's interface and size, for the manifest. */
export function describeGraph(graph: Graph): Omit<OarInference["graph"], "file" | "external_data"> {
  const io = (v: Graph["inputs"][number]): TensorIo => ({
    name: v.name,
    dtype: v.dtype === undefined ? "unknown" : ortTypeName(v.dtype),
    shape: v.shape === undefined ? null : [...v.shape],
  });
  const opCounts: Record<string, number> = {};
  for (const n of graph.nodes) opCounts[n.opType] = (opCounts[n.opType] ?? 0) + 1;
  return {
    opsets: Object.fromEntries([...graph.opsets].map(([d, v]) => [d === "" ? "ai.onnx" : d, v])),
    inputs: graph.inputs.map(io),
    outputs: graph.outputs.map(io),
    node_count: graph.nodes.length,
    op_counts: Object.fromEntries(Object.entries(opCounts).sort(([a], [b]) => a.localeCompare(b))),
    weight_bytes: graph.initializers.reduce((s, v) => s + v.initializer!.byteLength, 0),
    metadata: Object.fromEntries([...graph.metadata].map(([k, v]) => [k, parseIfJson(v)])),
  };
}

function parseIfJson(text: string): unknown {
  if (!/^\s*[[{]/.test(text)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** A pipeline report as the manifest keeps it: counts, without the rejection reasons. */
export function pipelineRecord(report: PipelineReport): PipelineRecord {
  return {
    pipeline: report.pipeline,
    iterations: report.iterations,
    passes: report.passes.map((p) => ({ pass: p.pass, fired: p.fired, rejected: p.rejected })),
  };
}
