import * as ort from "onnxruntime-node";
import { argmax } from "@oar/tensor";
import {
  ATTENTION_MASK,
  INPUT_IDS,
  LOGITS,
  NUM_LOGITS_TO_KEEP,
  POSITION_IDS,
  pastName,
  presentName,
} from "../io.js";

/** The KV a traced graph declares. */
export interface KvShape {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** The graph's dtype (f32 unless the graph was traced in f16). */
  readonly type: "float32" | "float16";
}

/** Keys and values every sequence starts with (prefix tuning). */
export interface PrefixPast {
  readonly length: number;
  /** The f32 data [kv_heads, length, head_dim] of one past input, by its name. */
  kv(name: string): Float32Array;
}

/**
 * A batch of sequences run step by step through an exported decoder on
 * onnxruntime's CPU provider, the way transformers.js drives one: prompts
 * left-padded to one length, attention_mask 0 on the padding,
 * position_ids = cumsum(mask) - 1 (1 on padding), each step's present
 * fed back as the next step's past. For tests of the traced graph.
 */
export class DecoderBatch {
  readonly #session: ort.InferenceSession;
  readonly #kv: KvShape;
  readonly #vocab: number;
  #mask: bigint[][] = []; // [batch][total]
  #past: Record<string, ort.Tensor> = {};

  private constructor(session: ort.InferenceSession, kv: KvShape, vocab: number) {
    this.#session = session;
    this.#kv = kv;
    this.#vocab = vocab;
  }

  static async open(modelPath: string, kv: KvShape, vocab: number): Promise<DecoderBatch> {
    const session = await ort.InferenceSession.create(modelPath, { executionProviders: ["cpu"], logSeverityLevel: 3 });
    return new DecoderBatch(session, kv, vocab);
  }

  /**
   * Prefills `prompts` (of any lengths, left-padded to the longest) after an
   * empty past, or after `prefix` (f32 keys and values by past input name,
   * [kv_heads, length, head_dim], the same for every sequence); returns each
   * prompt's last `keep` rows of logits, [keep, vocab] (keep 0: every row,
   * padding included).
   */
  async prefill(prompts: readonly (readonly number[])[], keep: number, prefix?: PrefixPast): Promise<Float32Array[]> {
    const length = Math.max(...prompts.map((p) => p.length));
    const before = Array<bigint>(prefix?.length ?? 0).fill(1n);
    this.#mask = prompts.map((p) => [...before, ...Array<bigint>(length - p.length).fill(0n), ...Array<bigint>(p.length).fill(1n)]);
    this.#past = {};
    const { layers, kvHeads, headDim, type } = this.#kv;
    for (let l = 0; l < layers; l++) {
      for (const kind of ["key", "value"] as const) {
        const name = pastName(l, kind);
        if (prefix === undefined) {
          const empty = type === "float32" ? new Float32Array(0) : new Uint16Array(0);
          this.#past[name] = new ort.Tensor(type, empty, [prompts.length, kvHeads, 0, headDim]);
          continue;
        }
        if (type !== "float32") throw new Error("DecoderBatch feeds a prefix to f32 graphs only");
        const one = prefix.kv(name);
        const batch = new Float32Array(one.length * prompts.length);
        for (let b = 0; b < prompts.length; b++) batch.set(one, b * one.length);
        this.#past[name] = new ort.Tensor("float32", batch, [prompts.length, kvHeads, prefix.length, headDim]);
      }
    }
    const padded = prompts.map((p) => [...Array<number>(length - p.length).fill(0), ...p]);
    return this.#run(padded, keep);
  }

  /** Appends `tokens` (the same count for every sequence) after what the batch holds; returns the last `keep` rows of logits of each. */
  async step(tokens: readonly (readonly number[])[], keep: number): Promise<Float32Array[]> {
    if (tokens.length !== this.#mask.length) throw new Error(`step: ${tokens.length} sequences, the batch holds ${this.#mask.length}`);
    for (const m of this.#mask) m.push(...Array<bigint>(tokens[0]!.length).fill(1n));
    return this.#run(tokens, keep);
  }

  /** Greedy continuation of each prompt by `n` tokens, the prompts batched with left padding. */
  async greedy(prompts: readonly (readonly number[])[], n: number): Promise<number[][]> {
    const out: number[][] = prompts.map(() => []);
    let logits = await this.prefill(prompts, 1);
    for (let i = 0; i < n; i++) {
      const next = logits.map((l) => argmax(l, 0, this.#vocab));
      next.forEach((t, b) => out[b]!.push(t));
      if (i + 1 < n) logits = await this.step(next.map((t) => [t]), 1);
    }
    return out;
  }

  release(): Promise<void> {
    return this.#session.release();
  }

  async #run(tokens: readonly (readonly number[])[], keep: number): Promise<Float32Array[]> {
    const batch = tokens.length;
    const n = tokens[0]!.length;
    const total = this.#mask[0]!.length;
    const ids = BigInt64Array.from(tokens.flat(), (t) => BigInt(t));
    const mask = BigInt64Array.from(this.#mask.flat());
    const positions = new BigInt64Array(batch * n);
    this.#mask.forEach((m, b) => {
      let seen = -1n;
      const pos = m.map((x) => (seen += x));
      for (let i = 0; i < n; i++) {
        const j = total - n + i;
        positions[b * n + i] = m[j] === 0n ? 1n : pos[j]!;
      }
    });
    const out = await this.#session.run({
      [INPUT_IDS]: new ort.Tensor("int64", ids, [batch, n]),
      [ATTENTION_MASK]: new ort.Tensor("int64", mask, [batch, total]),
      [POSITION_IDS]: new ort.Tensor("int64", positions, [batch, n]),
      [NUM_LOGITS_TO_KEEP]: new ort.Tensor("int64", BigInt64Array.of(BigInt(keep)), []),
      ...this.#past,
    });
    for (let l = 0; l < this.#kv.layers; l++) {
      for (const kind of ["key", "value"] as const) this.#past[pastName(l, kind)] = out[presentName(l, kind)]!;
    }
    const logits = out[LOGITS]!;
    const rows = logits.dims[1]!;
    const data = logits.data as Float32Array;
    const per = rows * this.#vocab;
    return Array.from({ length: batch }, (_, b) => data.slice(b * per, (b + 1) * per));
  }
}
