/**
 * Bytes of weights a configuration reads from memory for one decoded token
 * at batch 1: the decode roofline is bandwidth / these bytes. Matrices are
 * read whole every token; an embedding table only a row (nothing, at this
 * precision) unless it is also the output head (tied embeddings), which is
 * read whole. The KV cache and activations are left out: at the short
 * contexts measured they are under 1% of the weights.
 */
import * as path from "node:path";
import { type Graph, readModel } from "@oar/export";
import { decoderParams, readDecoderConfig } from "@oar/modeling";
import { assertNever } from "@oar/tensor";
import { GgmlType, readGgufFileInfo } from "node-llama-cpp";
import type { EagerStorage } from "./configs.js";

/**
 * Operators whose constant inputs are streamed whole each step (the weight
 * and, for quantized ones, scales and zero points). Constants of any other
 * operator are read in part (Gather's rows, rotary caches' positions) or are
 * small (norm weights, biases), so only those under SMALL_CONSTANT count.
 */
const STREAMING_OPS = new Set(["MatMul", "Gemm", "MatMulNBits", "DynamicQuantizeMatMul", "MatMulInteger"]);
const SMALL_CONSTANT = 1 << 20;

/** An exported graph: its initializers used by matrix products, plus small constants. */
export function graphWeightBytesPerToken(modelDir: string): number {
  return weightBytesOfGraph(readModel(path.join(modelDir, "model.onnx")));
}

export function weightBytesOfGraph(graph: Graph): number {
  let total = 0;
  for (const value of graph.initializers) {
    const init = value.initializer!;
    const streamed = value.uses.some((u) => STREAMING_OPS.has(u.node.opType));
    if (streamed || init.byteLength < SMALL_CONSTANT) total += init.byteLength;
  }
  return total;
}

/**
 * The eager model of `modelDir` with `storage`: every matrix in the pool
 * (the tied embedding once, as the output head), q8 with one f32 scale per
 * row (per output channel) where K is a multiple of 8, else f32; vectors in f32.
 */
export function eagerWeightBytesPerToken(modelDir: string, storage: EagerStorage): number {
  const config = readDecoderConfig(modelDir);
  let total = 0;
  for (const p of decoderParams(config)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (p.shape.length === 1) {
      total += 4 * n;
      continue;
    }
    switch (storage) {
      case "f32":
        total += 4 * n;
        break;
      case "bf16":
        total += 2 * n;
        break;
      case "q8":
        total += p.shape[1]! % 8 === 0 ? n + p.shape[0]! * 4 : 4 * n;
        break;
      default:
        assertNever(storage);
    }
  }
  return total;
}

/** Bytes per element of the GGUF tensor types gguf_qwen2.py writes. */
function ggmlBytesPerElement(type: GgmlType, tensor: string): number {
  switch (type) {
    case GgmlType.F32:
      return 4;
    case GgmlType.F16:
      return 2;
    case GgmlType.Q8_0:
      return 34 / 32;
    case GgmlType.Q4_0:
      return 18 / 32;
    default:
      throw new Error(`${tensor}: GGUF tensor type ${GgmlType[type] ?? type} is not one the bench knows the size of (F32, F16, Q8_0, Q4_0)`);
  }
}

/** A GGUF file: every tensor, except token_embd when an untied output.weight is the head. */
export async function ggufWeightBytesPerToken(file: string): Promise<number> {
  const info = await readGgufFileInfo(file, { readTensorInfo: true, logWarnings: false });
  const tensors = info.fullTensorInfo ?? [];
  if (tensors.length === 0) throw new Error(`${file}: no tensor information in the GGUF header`);
  const untied = tensors.some((t) => t.name === "output.weight");
  let total = 0;
  for (const t of tensors) {
    if (untied && t.name === "token_embd.weight") continue;
    const n = t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    total += n * ggmlBytesPerElement(t.ggmlType, t.name);
  }
  return total;
}
