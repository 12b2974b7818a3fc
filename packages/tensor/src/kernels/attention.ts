/**
 * Causal attention over a KV cache that lives in the compute pool's memory:
 * the types a call is described with, the checks both implementations share,
 * and the plain TypeScript reference the WebAssembly kernel (`attend` in
 * kernels.wat, run by ComputePool.attention) is tested against.
 *
 * A sequence's cached keys and values are a list of segments, runs of
 * consecutive positions stored contiguously as rows of kv_heads * head_dim
 * floats, so one kernel reads both cache layouts in place: a dense cache is
 * one segment, a paged cache one segment per block.
 */

/** Cached positions [start, start + count) of one sequence and layer. */
export interface KvSegment {
  readonly keys: Float32Array; // [.., kv_heads*head_dim]
  readonly values: Float32Array; // [.., kv_heads*head_dim]
  /** Row of keys/values that holds position `start`. */
  readonly row: number;
  readonly start: number;
  readonly count: number;
}

/** One sequence's queries in an attention call. */
export interface AttentionSequence {
  /** First row of q and out that belongs to this sequence. */
  readonly row: number;
  /** Queries, at positions first .. first + count - 1; the cache already holds them. */
  readonly count: number;
  readonly first: number;
  /** In order, covering positions [0, first + count) at least. */
  readonly segments: readonly KvSegment[];
}

export interface AttentionShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Multiplies q.k before the softmax. */
  readonly scale: number;
}

function isPositiveInt(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0;
}

/**
 * Checks a call and returns the longest causal span (first + count) of its
 * sequences; throws with what was expected and what was found.
 */
export function checkAttention(
  q: Float32Array, // [rows, heads*head_dim]
  out: Float32Array, // [rows, heads*head_dim]
  shape: AttentionShape,
  sequences: readonly AttentionSequence[],
): number {
  const { heads, kvHeads, headDim, scale } = shape;
  if (!isPositiveInt(heads) || !isPositiveInt(kvHeads) || heads % kvHeads !== 0) {
    throw new Error(`attention: heads (${heads}) must be a positive multiple of kvHeads (${kvHeads})`);
  }
  if (!isPositiveInt(headDim) || headDim % 4 !== 0) {
    throw new Error(`attention: headDim must be a positive multiple of 4 (the kernel reads 4 floats at a time), got ${headDim}`);
  }
  if (!Number.isFinite(scale)) throw new Error(`attention: scale must be finite, got ${scale}`);
  const qDim = heads * headDim;
  const kvDim = kvHeads * headDim;
  if (q.length % qDim !== 0 || out.length !== q.length) {
    throw new Error(`attention: q and out must both be [rows, ${qDim}], got ${q.length} and ${out.length} floats`);
  }
  const rows = q.length / qDim;
  let longest = 0;
  // Plain loops and no allocation: this runs once per layer and step.
  for (let i = 0; i < sequences.length; i++) {
    const s = sequences[i]!;
    if (!isPositiveInt(s.count) || !Number.isSafeInteger(s.first) || s.first < 0) {
      throw new Error(`attention: sequence ${i}: count must be positive and first non-negative, got count ${s.count}, first ${s.first}`);
    }
    if (!Number.isSafeInteger(s.row) || s.row < 0 || s.row + s.count > rows) {
      throw new Error(`attention: sequence ${i}: rows [${s.row}, ${s.row + s.count}) are not all in q's ${rows} rows`);
    }
    const end = s.first + s.count;
    let covered = 0;
    for (let j = 0; j < s.segments.length && covered < end; j++) {
      const seg = s.segments[j]!;
      if (seg.start !== covered || !isPositiveInt(seg.count)) {
        throw new Error(`attention: sequence ${i}: segment ${j} covers [${seg.start}, ${seg.start + seg.count}), expected one starting at ${covered}`);
      }
      checkRows(seg, seg.keys, "keys", kvDim, i, j);
      checkRows(seg, seg.values, "values", kvDim, i, j);
      covered += seg.count;
    }
    if (covered < end) throw new Error(`attention: sequence ${i}: its segments cover positions [0, ${covered}), the queries need [0, ${end})`);
    longest = Math.max(longest, end);
  }
  return longest;
}

/** That a segment's rows lie in its keys (or values). */
function checkRows(seg: KvSegment, data: Float32Array, name: string, kvDim: number, i: number, j: number): void {
  if (!Number.isSafeInteger(seg.row) || seg.row < 0 || (seg.row + seg.count) * kvDim > data.length) {
    throw new Error(`attention: sequence ${i}: segment ${j}'s rows [${seg.row}, ${seg.row + seg.count}) run past its ${name} (${data.length / kvDim} rows of ${kvDim})`);
  }
}

/**
 * The same attention in plain TypeScript, in double precision: for each query
 * and head, softmax(scale * q.k) over positions [0, position + 1) weighting v.
 */
export function attentionReference(
  q: Float32Array, // [rows, heads*head_dim]
  out: Float32Array, // [rows, heads*head_dim]
  shape: AttentionShape,
  sequences: readonly AttentionSequence[],
): void {
  const longest = checkAttention(q, out, shape, sequences);
  const { heads, kvHeads, headDim, scale } = shape;
  const group = heads / kvHeads;
  const qDim = heads * headDim;
  const kvDim = kvHeads * headDim;
  const scores = new Float64Array(longest);
  const acc = new Float64Array(headDim);
  for (const s of sequences) {
    for (let i = 0; i < s.count; i++) {
      const end = s.first + i + 1;
      const qBase = (s.row + i) * qDim;
      for (let h = 0; h < heads; h++) {
        const qOff = qBase + h * headDim;
        const kvOff = Math.floor(h / group) * headDim;
        let max = -Infinity;
        for (const seg of s.segments) {
          const n = Math.min(seg.count, end - seg.start);
          for (let j = 0; j < n; j++) {
            const kOff = (seg.row + j) * kvDim + kvOff;
            let dot = 0;
            for (let d = 0; d < headDim; d++) dot += q[qOff + d]! * seg.keys[kOff + d]!;
            scores[seg.start + j] = dot * scale;
            max = Math.max(max, dot * scale);
          }
        }
        let sum = 0;
        for (let p = 0; p < end; p++) {
          scores[p] = Math.exp(scores[p]! - max);
          sum += scores[p]!;
        }
        acc.fill(0);
        for (const seg of s.segments) {
          const n = Math.min(seg.count, end - seg.start);
          for (let j = 0; j < n; j++) {
            const vOff = (seg.row + j) * kvDim + kvOff;
            for (let d = 0; d < headDim; d++) acc[d]! += scores[seg.start + j]! * seg.values[vOff + d]!;
          }
        }
        for (let d = 0; d < headDim; d++) out[qOff + d] = acc[d]! / sum;
      }
    }
  }
}
