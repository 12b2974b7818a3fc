import type { PrefixCache } from "../eager/model.js";
import { linearPaddle } from "./matrix.js";

/*
 * The three layouts a prefix's keys and values are saved in, and the
 * conversions to and from the eager model's PrefixCache (per layer
 * [length, kv_heads*head_dim], rows of heads then head_dim, as the KV cache
 * holds positions: keys after rotary embedding, since they go straight into
 * the cache).
 *
 * - PEFT prompt_embeddings [tokens, layers*2*kv_dim]: get_prompt views it as
 *   [batch, tokens, layers*2, kv_heads, head_dim], permutes to
 *   [layers*2, batch, kv_heads, tokens, head_dim] and splits it into pairs,
 *   so layer l's key is entry 2l and its value entry 2l+1: each position's
 *   row is [k0 | v0 | k1 | v1 | ...].
 * - PaddleNLP's prefix encoder output [tokens, 2*layers*kv_dim]:
 *   _get_past_key_values reshapes it to [batch, tokens, layers*2, kv_heads,
 *   head_dim] and llama_/qwen_postprocess_past_key_value transpose it to
 *   [layers*2, ...] and split it in two halves, keys then values: each row is
 *   [k0 | k1 | ... | v0 | v1 | ...].
 * - PaddleNLP's pre_caches.npy [layers, 2, kv_heads, tokens, head_dim]
 *   (PrefixModelForCausalLM.save_pretrained: the encoder output reshaped to
 *   [tokens, 2, layers, kv_heads, head_dim] and transposed by [2, 1, 3, 0, 4]).
 */

/** What a prefix's layout depends on. */
export interface PrefixShape {
  readonly tokens: number;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

function emptyCache(s: PrefixShape): { keys: Float32Array[]; values: Float32Array[] } {
  const kvDim = s.kvHeads * s.headDim;
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  for (let l = 0; l < s.layers; l++) {
    keys.push(new Float32Array(s.tokens * kvDim));
    values.push(new Float32Array(s.tokens * kvDim));
  }
  return { keys, values };
}

/**
 * Converts between a flat row layout and the cache: `slot(l, kv)` is the
 * kv_dim-wide block of each position's row that holds layer l's keys (kv 0)
 * or values (kv 1).
 */
function fromRows(rows: Float32Array /* [tokens, layers*2*kv_dim] */, s: PrefixShape, slot: (l: number, kv: 0 | 1) => number): PrefixCache {
  const kvDim = s.kvHeads * s.headDim;
  const width = s.layers * 2 * kvDim;
  const { keys, values } = emptyCache(s);
  for (let p = 0; p < s.tokens; p++) {
    for (let l = 0; l < s.layers; l++) {
      keys[l]!.set(rows.subarray(p * width + slot(l, 0) * kvDim, p * width + (slot(l, 0) + 1) * kvDim), p * kvDim);
      values[l]!.set(rows.subarray(p * width + slot(l, 1) * kvDim, p * width + (slot(l, 1) + 1) * kvDim), p * kvDim);
    }
  }
  return { length: s.tokens, keys, values };
}

function toRows(prefix: PrefixCache, s: PrefixShape, slot: (l: number, kv: 0 | 1) => number): Float32Array {
  const kvDim = s.kvHeads * s.headDim;
  const width = s.layers * 2 * kvDim;
  const rows = new Float32Array(s.tokens * width); // [tokens, layers*2*kv_dim]
  for (let p = 0; p < s.tokens; p++) {
    for (let l = 0; l < s.layers; l++) {
      rows.set(prefix.keys[l]!.subarray(p * kvDim, (p + 1) * kvDim), p * width + slot(l, 0) * kvDim);
      rows.set(prefix.values[l]!.subarray(p * kvDim, (p + 1) * kvDim), p * width + slot(l, 1) * kvDim);
    }
  }
  return rows;
}

const peftSlot = (l: number, kv: 0 | 1): number => 2 * l + kv;

/** PEFT prompt_embeddings [tokens, layers*2*kv_dim] -> cache. */
export function prefixFromPeft(embeddings: Float32Array, s: PrefixShape): PrefixCache {
  return fromRows(embeddings, s, peftSlot);
}

/** Cache -> PEFT prompt_embeddings [tokens, layers*2*kv_dim]. */
export function prefixToPeft(prefix: PrefixCache, s: PrefixShape): Float32Array {
  return toRows(prefix, s, peftSlot);
}

/** PaddleNLP prefix encoder output [tokens, 2*layers*kv_dim] -> cache. */
export function prefixFromPaddle(output: Float32Array, s: PrefixShape): PrefixCache {
  return fromRows(output, s, (l, kv) => kv * s.layers + l);
}

/** Cache -> PaddleNLP prefix encoder output [tokens, 2*layers*kv_dim]. */
export function prefixToPaddle(prefix: PrefixCache, s: PrefixShape): Float32Array {
  return toRows(prefix, s, (l, kv) => kv * s.layers + l);
}

/** pre_caches.npy [layers, 2, kv_heads, tokens, head_dim] -> cache. */
export function prefixFromPreCaches(data: Float32Array, s: PrefixShape): PrefixCache {
  const { keys, values } = emptyCache(s);
  forEachPreCache(s, (l, kv, h, p, src) => {
    const dst = (kv === 0 ? keys : values)[l]!;
    dst.set(data.subarray(src, src + s.headDim), (p * s.kvHeads + h) * s.headDim);
  });
  return { length: s.tokens, keys, values };
}

/** Cache -> pre_caches.npy [layers, 2, kv_heads, tokens, head_dim]. */
export function prefixToPreCaches(prefix: PrefixCache, s: PrefixShape): Float32Array {
  const out = new Float32Array(s.layers * 2 * s.kvHeads * s.tokens * s.headDim);
  forEachPreCache(s, (l, kv, h, p, dst) => {
    const src = (kv === 0 ? prefix.keys : prefix.values)[l]!;
    const at = (p * s.kvHeads + h) * s.headDim;
    out.set(src.subarray(at, at + s.headDim), dst);
  });
  return out;
}

/** Visits each head_dim-long run of pre_caches.npy with its offset there. */
function forEachPreCache(s: PrefixShape, f: (l: number, kv: 0 | 1, h: number, p: number, offset: number) => void): void {
  let offset = 0;
  for (let l = 0; l < s.layers; l++) {
    for (const kv of [0, 1] as const) {
      for (let h = 0; h < s.kvHeads; h++) {
        for (let p = 0; p < s.tokens; p++) {
          f(l, kv, h, p, offset);
          offset += s.headDim;
        }
      }
    }
  }
}

/** PaddleNLP's projecting prefix encoder: nn.Sequential(Embedding, Linear, Tanh, Linear, Dropout), weights in Paddle layout. */
export interface PaddlePrefixProjection {
  readonly embedding: Float32Array; // [tokens, kv_dim]  "0.weight"
  readonly w1: Float32Array; // [kv_dim, hidden]  "1.weight"
  readonly b1: Float32Array; // [hidden]  "1.bias"
  readonly w2: Float32Array; // [hidden, 2*layers*kv_dim]  "3.weight"
  readonly b2: Float32Array; // [2*layers*kv_dim]  "3.bias"
  readonly hidden: number;
}

/** Evaluates the projecting encoder on every prefix token (dropout is off at inference): [tokens, 2*layers*kv_dim]. */
export function evaluatePaddleProjection(w: PaddlePrefixProjection, s: PrefixShape): Float32Array {
  const kvDim = s.kvHeads * s.headDim;
  const h = linearPaddle(w.embedding, w.w1, w.b1, s.tokens, kvDim, w.hidden);
  for (let i = 0; i < h.length; i++) h[i] = Math.tanh(h[i]!);
  return linearPaddle(h, w.w2, w.b2, s.tokens, w.hidden, 2 * s.layers * kvDim);
}
