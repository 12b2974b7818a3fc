import type { AttentionSequence, AttentionShape, ComputePool } from "@oar/tensor";
import type { KvCache, SequenceCache } from "./kv-cache.js";

/** One sequence's rows in a step: `count` new tokens, after the positions its cache already holds. */
export interface StepRows {
  readonly cache: SequenceCache;
  readonly count: number;
}

/**
 * The attention of one layer for a whole step: appends each sequence's new
 * keys and values (rows of k and v, sequences one after another) to its
 * cache, then runs the pool's attention kernel over the cache in place, every
 * sequence's queries in one job. Returns [rows, heads*head_dim].
 */
export function attendStep(
  pool: ComputePool,
  cache: KvCache,
  layer: number,
  step: readonly StepRows[],
  q: Float32Array, // [rows, heads*head_dim], after rope
  k: Float32Array, // [rows, kv_heads*head_dim], after rope
  v: Float32Array, // [rows, kv_heads*head_dim]
  shape: AttentionShape,
): Float32Array {
  const out = new Float32Array(q.length);
  const sequences: AttentionSequence[] = [];
  let row = 0;
  for (const s of step) {
    const first = s.cache.length;
    cache.write(s.cache, layer, first, s.count, k, v, row);
    sequences.push({ row, count: s.count, first, segments: cache.segments(s.cache, layer, first + s.count) });
    row += s.count;
  }
  pool.attention(q, out, shape, sequences);
  return out;
}
