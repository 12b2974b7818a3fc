import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { dtypeOfTorchName } from "@oar/tensor";
import { type Adapters, type DecoderConfig, loadAdapters, mergeLora, openModelWeights, readDecoderConfig } from "@oar/modeling";
import {
  type AdapterRecord,
  type ExportDType,
  OAR_INFERENCE_FILE,
  OAR_INFERENCE_FORMAT,
  OAR_INFERENCE_VERSION,
  type OarInference,
  type QuantType,
  describeGraph,
  ortTypeName,
  pipelineRecord,
} from "./inference-dir/manifest.js";
import { stageOutputDir } from "./inference-dir/output-dir.js";
import { PREFIX_FILE, writePrefixKv } from "./inference-dir/prefix.js";
import { MODEL_FILES, TOKENIZER_FILES, copyPresent, sha256File, weightFileDigests } from "./inference-dir/source-files.js";
import type { Graph } from "./ir/graph.js";
import { writeModel } from "./onnx/write.js";
import { cleanupPipeline } from "./passes/cleanup.js";
import { fusionPipelines } from "./passes/fusion/index.js";
import { type QuantizationOptions, quantizationPipelines } from "./passes/quant/index.js";
import { type Pipeline, type PipelineReport, runPipeline } from "./rewrite/manager.js";
import {
  ATTENTION_MASK,
  type GraphDType,
  NUM_LOGITS_TO_KEEP,
  POSITION_IDS,
} from "./trace/io.js";
import { type KvLayout, kvIoRecord } from "./trace/kv-io.js";
import type { AttentionForm } from "./trace/backend.js";
import { traceDecoder } from "./trace/trace.js";
import type { MergedEdit } from "./trace/weights.js";

export interface ExportOptions {
  /**
   * A checkpoint directory: config.json, the tokenizer files and weights as
   * safetensors, pytorch_model.bin or model_state.pdparams (one file or
   * shards), in Hugging Face's or PaddleNLP's layout.
   */
  readonly modelDir: string;
  /** The inference directory to write; must be absent or empty unless `overwrite`. */
  readonly outputDir: string;
  /** Element type of weights, activations and KV (default float32: what CPU runs). */
  readonly dtype?: ExportDType;
  /** Quantize the weights (after any fusion). */
  readonly quantType?: QuantType | null;
  /** How to quantize: block size, zero points, MatMulNBits' accuracy level (the quantization passes' defaults otherwise). */
  readonly quantization?: QuantizationOptions;
  /** Run the fusion passes (PaddleNLP's --inference_model); without it the graph stays primitive. */
  readonly inferenceModel?: boolean;
  /**
   * How attention is written (default "grouped"): "grouped" reads the cache
   * without concatenating or repeating it, the fastest form on onnxruntime's
   * CPU provider; "repeat-kv" is the form other exporters write, which the
   * fusion passes turn into com.microsoft GroupQueryAttention (the fast path
   * of GPU providers).
   */
  readonly attention?: AttentionForm;
  /** Record that the runtime should hold the KV cache in blocks (--block_attn) of `blockSize` positions (default 64). */
  readonly blockAttn?: boolean;
  readonly blockSize?: number;
  /** PaddleNLP's --src_length and --max_length, recorded for the runtime. */
  readonly srcLength?: number;
  readonly maxLength?: number;
  /** LoRA adapter directories, merged into the weights in this order (adapters stack). */
  readonly loraPaths?: readonly string[];
  /** A prefix-tuning adapter directory; its keys and values are written beside the graph. */
  readonly prefixPath?: string | null;
  /** Replace a non-empty output directory (only once the new one is complete). */
  readonly overwrite?: boolean;
  /** Weights of more than this many bytes go to model.onnx.data (default 256 MiB; protobuf's 2 GiB limit forces it regardless). */
  readonly externalDataBytes?: number;
  /** Told what the export is doing, a line at a time. */
  readonly onProgress?: (message: string) => void;
}

export interface ExportReport {
  readonly outputDir: string;
  /** What was written to oar_inference.json. */
  readonly manifest: OarInference;
  /** Every pipeline's full report, rejection reasons included. */
  readonly pipelines: readonly PipelineReport[];
  /** The files of the inference directory with their sizes. */
  readonly files: readonly { readonly name: string; readonly bytes: number }[];
  readonly seconds: number;
}

/**
 * Above this many bytes of weights the model is written with external data:
 * encoding a big model into one protobuf message costs its size again in
 * memory, while external data streams one weight at a time.
 */
const EXTERNAL_DATA_BYTES = 256 << 20;
const DATA_FILE = "model.onnx.data";
const MODEL_FILE = "model.onnx";

/**
 * Exports a checkpoint as an inference directory: reads config.json and the
 * checkpoint (and any LoRA, merged as the weights are read, and prefix),
 * traces the decoder, runs the cleanup passes, then the fusion passes when
 * `inferenceModel`, then quantization when `quantType`, and writes
 * model.onnx (+ model.onnx.data), the source's config and tokenizer files,
 * the prefix's KV and oar_inference.json. Weights stream from the
 * checkpoint to the output one at a time. Everything is written to a
 * temporary directory beside the output and renamed into place at the end:
 * a failure leaves neither a partial output nor the temporary directory, and
 * a refused output directory is not touched.
 */
export async function exportModel(options: ExportOptions): Promise<ExportReport> {
  const started = performance.now();
  const progress = options.onProgress ?? (() => undefined);
  const settings = checkOptions(options);
  const staged = stageOutputDir(options.outputDir, {
    overwrite: options.overwrite ?? false,
    keep: [options.modelDir, ...settings.loraPaths, ...(settings.prefixPath === null ? [] : [settings.prefixPath])],
  });
  try {
    const config = readDecoderConfig(options.modelDir);
    const adapters = readAdapters(settings.loraPaths, settings.prefixPath, config);
    const weights = openModelWeights(options.modelDir, config);
    const checkpoint = weights.source;
    try {
      const graph = traceDecoder({
        config,
        checkpoint,
        where: options.modelDir,
        dtype: settings.dtype,
        kv: settings.kv,
        attention: options.attention ?? "grouped",
        ...(adapters.edit === null ? {} : { edit: adapters.edit }),
      });
      progress(`traced ${config.architecture}: ${graph.nodes.length} nodes, ${graph.initializers.length} initializers`);
      const pipelines = [runPipeline(graph, cleanupPipeline())];
      for (const p of optimizationPipelines(settings, config)) pipelines.push(runPipeline(graph, p));
      for (const r of pipelines) progress(`${r.pipeline}: ${r.passes.filter((p) => p.fired > 0).map((p) => `${p.pass} x${p.fired}`).join(", ") || "no changes"}`);

      const weightBytes = describeGraph(graph).weight_bytes;
      const externalData = weightBytes > (options.externalDataBytes ?? EXTERNAL_DATA_BYTES) ? "always" : "auto";
      progress(`writing ${MODEL_FILE} (${(weightBytes / 2 ** 20).toFixed(1)} MiB of weights${externalData === "always" ? `, in ${DATA_FILE}` : ""})`);
      const written = writeModel(graph, staged.dir, { fileName: MODEL_FILE, dataFileName: DATA_FILE, externalData });
      progress(`wrote ${MODEL_FILE}${written.dataPath === null ? "" : ` and ${DATA_FILE}`}`);

      const modelFiles = copyPresent(options.modelDir, staged.dir, MODEL_FILES);
      const tokenizerFiles = copyPresent(options.modelDir, staged.dir, TOKENIZER_FILES);
      if (!tokenizerFiles.includes("tokenizer.json")) {
        progress(`warning: ${options.modelDir} has no tokenizer.json; the inference directory can run token ids only`);
      }
      if (adapters.prefix !== null) writePrefixKv(staged.dir, adapters.prefix.cache, config, settings.dtype);

      const manifest = buildManifest({
        options,
        settings,
        config,
        graph,
        pipelines,
        adapters,
        externalData: written.dataPath === null ? null : DATA_FILE,
        source: {
          model_dir: options.modelDir,
          config_sha256: sha256File(path.join(options.modelDir, "config.json")),
          index_sha256: weights.index === null ? null : sha256File(weights.index),
          weights: weightFileDigests(options.modelDir, checkpoint, weights.format),
          weight_format: { files: weights.format, naming: weights.naming },
          torch_dtype: config.torchDtype,
        },
        files: { model: modelFiles, tokenizer: tokenizerFiles },
      });
      fs.writeFileSync(path.join(staged.dir, OAR_INFERENCE_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      const files = fs
        .readdirSync(staged.dir)
        .sort()
        .map((name) => ({ name, bytes: fs.statSync(path.join(staged.dir, name)).size }));
      progress(`wrote ${OAR_INFERENCE_FILE}; moving the directory into place at ${options.outputDir}`);
      staged.commit();
      return { outputDir: options.outputDir, manifest, pipelines, files, seconds: (performance.now() - started) / 1000 };
    } finally {
      checkpoint.close();
    }
  } catch (e) {
    staged.abort();
    throw e;
  }
}

/** The options checked and defaulted. */
interface Settings {
  readonly dtype: GraphDType;
  readonly exportDType: ExportDType;
  readonly quantType: QuantType | null;
  /** Built while checking the options, so a bad quantization option fails before any work. */
  readonly quantPipelines: readonly Pipeline[];
  readonly inferenceModel: boolean;
  readonly blockAttn: boolean;
  readonly blockSize: number | null;
  /** The graph's KV interface: the step's own KV as outputs, so the runtime keeps its cache (dense or in blocks) without copying it out. */
  readonly kv: KvLayout;
  readonly srcLength: number | null;
  readonly maxLength: number | null;
  readonly loraPaths: readonly string[];
  readonly prefixPath: string | null;
}

function checkOptions(o: ExportOptions): Settings {
  const exportDType = o.dtype ?? "float32";
  const quantType = o.quantType ?? null;
  if (quantType !== null) checkQuantType(quantType);
  if (quantType === null && o.quantization !== undefined) throw new Error("quantization options are given without quantType (--quant_type)");
  const positive = (flag: string, v: number | undefined): number | null => {
    if (v === undefined) return null;
    if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${flag} must be a positive integer, got ${v}`);
    return v;
  };
  const blockAttn = o.blockAttn ?? false;
  const blockSize = positive("blockSize (--block_size)", o.blockSize);
  if (blockSize !== null && !blockAttn) throw new Error("blockSize (--block_size) is given without blockAttn (--block_attn)");
  return {
    dtype: graphDType(exportDType),
    exportDType,
    quantType,
    quantPipelines: quantType === null ? [] : quantizationPipelines(quantType, o.quantization ?? {}),
    inferenceModel: o.inferenceModel ?? false,
    blockAttn,
    blockSize: blockAttn ? (blockSize ?? 64) : null,
    kv: blockAttn ? { kind: "blocks", blockSize: blockSize ?? 64 } : { kind: "present+new" },
    srcLength: positive("srcLength (--src_length)", o.srcLength),
    maxLength: positive("maxLength (--max_length)", o.maxLength),
    loraPaths: o.loraPaths ?? [],
    prefixPath: o.prefixPath ?? null,
  };
}

function graphDType(dtype: ExportDType): GraphDType {
  const graph = dtypeOfTorchName(dtype);
  if (graph === null) throw new Error(`dtype (--dtype) must be float32, float16 or bfloat16, got ${JSON.stringify(dtype)}`);
  return graph;
}

function checkQuantType(q: QuantType): QuantType {
  switch (q) {
    case "weight_only_int8":
    case "weight_only_int4":
    case "a8w8":
      return q;
    default:
      throw new Error(`quantType (--quant_type) must be weight_only_int8, weight_only_int4 or a8w8, got ${JSON.stringify(q satisfies never)}`);
  }
}

/** The fusion pipelines (inferenceModel), then the quantization pipelines (quantType). */
function optimizationPipelines(settings: Settings, config: DecoderConfig): Pipeline[] {
  return [
    ...(settings.inferenceModel ? fusionPipelines({ maxPositions: config.maxPositions }) : []),
    ...settings.quantPipelines,
  ];
}

/**
 * How the graph's weights ended up quantized, read from its nodes rather
 * than from the options (the passes' defaults live with the passes):
 * MatMulNBits, GatherBlockQuantized and DynamicQuantizeMatMul, their block
 * size and accuracy level, and whether any carries zero points.
 */
function quantizationRecord(graph: Graph, quantType: QuantType | null): OarInference["quantization"] {
  if (quantType === null) return null;
  const nodes = graph.nodes;
  const of = (op: "MatMulNBits" | "GatherBlockQuantized" | "DynamicQuantizeMatMul") => nodes.filter((n) => n.is(op));
  const [nbits, gathers, dynamic] = [of("MatMulNBits"), of("GatherBlockQuantized"), of("DynamicQuantizeMatMul")];
  const blocked = [...nbits, ...gathers][0];
  return {
    block_size: blocked === undefined ? null : blocked.int("block_size"),
    symmetric: ![...nbits, ...gathers, ...dynamic].some((n) => (n.inputs[3] ?? null) !== null),
    accuracy_level: nbits[0]?.int("accuracy_level", 0) ?? null,
    quantized_matmuls: nbits.length + dynamic.length,
    quantized_embeddings: gathers.length,
  };
}

/** The adapters of the export, each checked to be of the kind its flag says. */
interface ExportAdapters {
  readonly edit: MergedEdit | null;
  readonly lora: Adapters["sources"];
  readonly prefix: { readonly cache: NonNullable<Adapters["prefix"]>; readonly source: Adapters["sources"][number] } | null;
}

function readAdapters(loraPaths: readonly string[], prefixPath: string | null, config: DecoderConfig): ExportAdapters {
  const lora = loadAdapters(loraPaths, config);
  if (lora.prefix !== null) {
    const dir = lora.sources.find((s) => s.format === "peft-prefix" || s.format === "paddle-prefix")?.dir ?? "";
    throw new Error(`${dir}: given as a LoRA path (--lora_path) but holds a prefix-tuning adapter; pass it as the prefix path (--prefix_path)`);
  }
  let prefix: ExportAdapters["prefix"] = null;
  if (prefixPath !== null) {
    const p = loadAdapters([prefixPath], config);
    if (p.prefix === null) throw new Error(`${prefixPath}: given as the prefix path (--prefix_path) but holds a LoRA adapter; pass it as a LoRA path (--lora_path)`);
    prefix = { cache: p.prefix, source: p.sources[0]! };
  }
  const edit: MergedEdit | null =
    lora.lora.length === 0 ? null : { weights: new Set(lora.lora.map((l) => `${l.module}.weight`)), apply: mergeLora(lora.lora) };
  return { edit, lora: lora.sources, prefix };
}

function adapterRecord(source: Adapters["sources"][number]): AdapterRecord {
  return {
    dir: source.dir,
    format: source.format,
    files: source.files.map((file) => ({ file, sha256: sha256File(path.join(source.dir, file)) })),
  };
}

let exporterVersion: string | null = null;

/** This package's version, from its package.json (dist/ sits beside it). */
function version(): string {
  if (exporterVersion === null) {
    const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "package.json");
    exporterVersion = (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
  }
  return exporterVersion;
}

function buildManifest(parts: {
  readonly options: ExportOptions;
  readonly settings: Settings;
  readonly config: DecoderConfig;
  readonly graph: Graph;
  readonly pipelines: readonly PipelineReport[];
  readonly adapters: ExportAdapters;
  readonly externalData: string | null;
  readonly source: OarInference["source"];
  readonly files: OarInference["files"];
}): OarInference {
  const { settings, config: c, graph, adapters } = parts;
  const described = describeGraph(graph);
  const keepsLogits = graph.inputs.some((v) => v.name === NUM_LOGITS_TO_KEEP);
  const prefix = adapters.prefix;
  return {
    format: OAR_INFERENCE_FORMAT,
    format_version: OAR_INFERENCE_VERSION,
    exporter: { name: "@oar/export", version: version() },
    model: {
      architecture: c.architecture,
      family: c.family,
      vocab_size: c.vocabSize,
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_layers: c.numLayers,
      num_heads: c.numHeads,
      num_kv_heads: c.numKvHeads,
      head_dim: c.headDim,
      rope_theta: c.ropeTheta,
      rms_norm_eps: c.rmsNormEps,
      tie_word_embeddings: c.tieWordEmbeddings,
      bos_token_id: c.bosTokenId,
      eos_token_ids: c.eosTokenIds,
    },
    dtype: settings.exportDType,
    quant_type: settings.quantType,
    quantization: quantizationRecord(graph, settings.quantType),
    inference_model: settings.inferenceModel,
    passes: parts.pipelines.map(pipelineRecord),
    graph: { file: MODEL_FILE, external_data: parts.externalData, ...described },
    kv_cache: {
      num_layers: c.numLayers,
      num_kv_heads: c.numKvHeads,
      head_dim: c.headDim,
      dtype: ortTypeName(settings.dtype),
      ...kvIoRecord(settings.kv),
    },
    feeds: {
      padding_side: "left",
      attention_mask: `${ATTENTION_MASK} [batch_size, past + new]: 1 for every real position (prefix, earlier tokens, new tokens), 0 for left padding`,
      position_ids: `${POSITION_IDS} [batch_size, new]: cumsum(${ATTENTION_MASK}) - 1 at the new tokens (so they continue after a prefix); any value at padding`,
      num_logits_to_keep: keepsLogits ? { name: NUM_LOGITS_TO_KEEP, dtype: "int64", shape: [], zero_keeps_all: true } : null,
    },
    max_positions: c.maxPositions,
    src_length: settings.srcLength,
    max_length: settings.maxLength,
    block_attention: { enabled: settings.blockAttn, block_size: settings.blockSize },
    adapters: {
      lora: adapters.lora.map(adapterRecord),
      prefix:
        prefix === null
          ? null
          : { ...adapterRecord(prefix.source), kv_file: PREFIX_FILE, length: prefix.cache.length, position_offset: prefix.cache.length },
    },
    source: parts.source,
    files: parts.files,
  };
}
