/**
 * llama2.c's legacy model file (run.c's format) to a Hugging Face Llama
 * checkpoint directory.
 *
 * The file: 7 little-endian int32s (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier
 * is stored separately, a positive one that it is tied to the embedding),
 * then float32 arrays in this order:
 *   token_embedding  [vocab, dim]
 *   rms_att          [layers, dim]
 *   wq               [layers, dim, dim]                 (out, in)
 *   wk, wv           [layers, kv_heads*head_dim, dim]
 *   wo               [layers, dim, dim]
 *   rms_ffn          [layers, dim]
 *   w1 (gate)        [layers, hidden, dim]
 *   w2 (down)        [layers, dim, hidden]
 *   w3 (up)          [layers, hidden, dim]
 *   rms_final        [dim]
 *   freq_cis_real, freq_cis_imag  [seq_len, head_dim/2] each (unused)
 *   wcls             [vocab, dim]                       (only when not tied)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type TensorPlan, writeSafetensorsStreaming } from "@oar/tensor";
import { configJson, generationConfigJson, prepareOutputDir, writeJson } from "./hf-files.js";
import type { ModelSpec } from "./spec.js";

/** The header of a llama2.c legacy file, and where each of its arrays lies. */
interface Llama2cLayout {
  readonly spec: ModelSpec;
  /** Byte offset of each array in the file. */
  readonly offsets: Readonly<Record<Llama2cArray, number>>;
  readonly fileSize: number;
}

type Llama2cArray =
  | "token_embedding"
  | "rms_att"
  | "wq"
  | "wk"
  | "wv"
  | "wo"
  | "rms_ffn"
  | "w1"
  | "w2"
  | "w3"
  | "rms_final"
  | "freq_cis_real"
  | "freq_cis_imag"
  | "wcls";

const HEADER_BYTES = 7 * 4;
/** The first int32 of llama2.c's newer export formats ("ak42"), which this converter does not read. */
const VERSIONED_MAGIC = 0x616b3432;

function readLayout(file: string, fd: number): Llama2cLayout {
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < HEADER_BYTES) throw new Error(`${file}: ${fileSize} bytes, shorter than the 28-byte llama2.c header`);
  const head = Buffer.alloc(HEADER_BYTES);
  fs.readSync(fd, head, 0, HEADER_BYTES, 0);
  if (head.readUInt32LE(0) === VERSIONED_MAGIC) {
    throw new Error(`${file}: a versioned llama2.c export (magic "ak42"); only the legacy format (export.py --version 0) is supported`);
  }
  const names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"] as const;
  const h = Object.fromEntries(names.map((n, i) => [n, head.readInt32LE(4 * i)])) as Record<(typeof names)[number], number>;
  const shared = h.vocab_size > 0;
  const vocab = Math.abs(h.vocab_size);
  for (const n of names) {
    if ((n === "vocab_size" ? vocab : h[n]) <= 0) throw new Error(`${file}: header ${n} is ${h[n]}; expected a positive number`);
  }
  if (h.dim % h.n_heads !== 0 || (h.dim / h.n_heads) % 2 !== 0) {
    throw new Error(`${file}: header dim ${h.dim} is not n_heads ${h.n_heads} times an even head size`);
  }
  if (h.n_heads % h.n_kv_heads !== 0) throw new Error(`${file}: header n_heads ${h.n_heads} is not a multiple of n_kv_heads ${h.n_kv_heads}`);
  const headDim = h.dim / h.n_heads;
  const kvDim = h.n_kv_heads * headDim;
  const L = h.n_layers;
  const sizes: [Llama2cArray, number][] = [
    ["token_embedding", vocab * h.dim],
    ["rms_att", L * h.dim],
    ["wq", L * h.dim * h.dim],
    ["wk", L * kvDim * h.dim],
    ["wv", L * kvDim * h.dim],
    ["wo", L * h.dim * h.dim],
    ["rms_ffn", L * h.dim],
    ["w1", L * h.hidden_dim * h.dim],
    ["w2", L * h.dim * h.hidden_dim],
    ["w3", L * h.hidden_dim * h.dim],
    ["rms_final", h.dim],
    ["freq_cis_real", (h.seq_len * headDim) / 2],
    ["freq_cis_imag", (h.seq_len * headDim) / 2],
    ["wcls", shared ? 0 : vocab * h.dim],
  ];
  const offsets = {} as Record<Llama2cArray, number>;
  let at = HEADER_BYTES;
  for (const [name, count] of sizes) {
    offsets[name] = at;
    at += 4 * count;
  }
  if (at !== fileSize) {
    throw new Error(
      `${file}: header [dim ${h.dim}, hidden_dim ${h.hidden_dim}, n_layers ${L}, n_heads ${h.n_heads}, n_kv_heads ${h.n_kv_heads}, vocab_size ${h.vocab_size}, seq_len ${h.seq_len}] ` +
        `describes a ${at}-byte file, but it has ${fileSize} bytes (truncated, or not a llama2.c legacy model)`,
    );
  }
  const spec: ModelSpec = {
    arch: "llama",
    vocabSize: vocab,
    hiddenSize: h.dim,
    intermediateSize: h.hidden_dim,
    numLayers: L,
    numHeads: h.n_heads,
    numKvHeads: h.n_kv_heads,
    headDim,
    maxPositions: h.seq_len,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    qkvBias: false,
    tieWordEmbeddings: shared,
  };
  return { spec, offsets, fileSize };
}

/**
 * Reorders the rows of a q or k projection [heads*head_dim, in] from
 * llama2.c's RoPE on adjacent pairs (0,1),(2,3),... to Hugging Face's
 * rotate-half pairs (j, j+head_dim/2), as transformers'
 * convert_llama_weights_to_hf does:
 * w.view(heads, head_dim/2, 2, in).transpose(1, 2).reshape(heads*head_dim, in).
 */
export function permuteRotary(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  if (w.length !== heads * headDim * cols) throw new Error(`permuteRotary: ${w.length} values are not ${heads}x${headDim}x${cols}`);
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const from = (h * headDim + 2 * j + i) * cols;
        out.set(w.subarray(from, from + cols), (h * headDim + i * half + j) * cols);
      }
    }
  }
  return out;
}

/**
 * Converts llama2.c's legacy model file at `binPath` into a Hugging Face
 * Llama checkpoint in `outDir` (config.json, generation_config.json,
 * model.safetensors in f32; no tokenizer, since the file carries none). The
 * file size is checked against the header before anything is read.
 */
export function convertLlama2c(binPath: string, outDir: string, options: { overwrite?: boolean } = {}): void {
  let fd: number;
  try {
    fd = fs.openSync(binPath, "r");
  } catch (e) {
    throw new Error(`${binPath}: cannot open: ${(e as Error).message}`);
  }
  try {
    const { spec, offsets } = readLayout(binPath, fd);
    prepareOutputDir(outDir, options.overwrite ?? false);
    writeJson(path.join(outDir, "config.json"), configJson({ spec, dtype: "f32", bosTokenId: 1, eosTokenId: 2 }));
    writeJson(path.join(outDir, "generation_config.json"), generationConfigJson({ bosTokenId: 1, eosTokenIds: [2] }));

    const d = spec.hiddenSize;
    const kvDim = spec.numKvHeads * spec.headDim;
    const hid = spec.intermediateSize;
    /** `count` floats of array `name`, starting `skip` floats into it. */
    const read = (name: Llama2cArray, skip: number, count: number): Float32Array => {
      const out = new Float32Array(count);
      const bytes = new Uint8Array(out.buffer);
      const got = fs.readSync(fd, bytes, 0, bytes.length, offsets[name] + 4 * skip);
      if (got !== bytes.length) throw new Error(`${binPath}: short read of ${name} (${got} of ${bytes.length} bytes)`);
      return out;
    };
    const plans: { plan: TensorPlan; data: () => Float32Array }[] = [];
    const add = (name: string, shape: number[], data: () => Float32Array): void => {
      plans.push({ plan: { name, dtype: "f32", shape }, data });
    };
    add("model.embed_tokens.weight", [spec.vocabSize, d], () => read("token_embedding", 0, spec.vocabSize * d));
    for (let l = 0; l < spec.numLayers; l++) {
      const p = `model.layers.${l}`;
      add(`${p}.input_layernorm.weight`, [d], () => read("rms_att", l * d, d));
      add(`${p}.self_attn.q_proj.weight`, [d, d], () => permuteRotary(read("wq", l * d * d, d * d), spec.numHeads, spec.headDim, d));
      add(`${p}.self_attn.k_proj.weight`, [kvDim, d], () => permuteRotary(read("wk", l * kvDim * d, kvDim * d), spec.numKvHeads, spec.headDim, d));
      add(`${p}.self_attn.v_proj.weight`, [kvDim, d], () => read("wv", l * kvDim * d, kvDim * d));
      add(`${p}.self_attn.o_proj.weight`, [d, d], () => read("wo", l * d * d, d * d));
      add(`${p}.post_attention_layernorm.weight`, [d], () => read("rms_ffn", l * d, d));
      add(`${p}.mlp.gate_proj.weight`, [hid, d], () => read("w1", l * hid * d, hid * d));
      add(`${p}.mlp.up_proj.weight`, [hid, d], () => read("w3", l * hid * d, hid * d));
      add(`${p}.mlp.down_proj.weight`, [d, hid], () => read("w2", l * d * hid, d * hid));
    }
    add("model.norm.weight", [d], () => read("rms_final", 0, d));
    if (!spec.tieWordEmbeddings) add("lm_head.weight", [spec.vocabSize, d], () => read("wcls", 0, spec.vocabSize * d));

    const byName = new Map(plans.map((p) => [p.plan.name, p.data]));
    writeSafetensorsStreaming(path.join(outDir, "model.safetensors"), {
      tensors: plans.map((p) => p.plan),
      data: (plan) => [byName.get(plan.name)!()],
      metadata: { format: "pt", "oar.converted_from": `llama2.c ${path.basename(binPath)}` },
    });
  } finally {
    fs.closeSync(fd);
  }
}
