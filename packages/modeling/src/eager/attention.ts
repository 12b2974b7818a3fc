import type { KvSegment } from "./kv-cache.js";

export interface AttentionShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly scale: number;
}

/**
 * Causal attention of `count` new queries of one sequence, at positions
 * first..first+count-1, over its cached keys and values (which already hold
 * the new positions). q and out are [.., heads*head_dim]; rows qRow.. of q
 * are read and the same rows of out written. `scores` is scratch of at least
 * first+count floats.
 */
export function attendSequence(
  q: Float32Array,
  out: Float32Array,
  qRow: number,
  count: number,
  first: number,
  segments: readonly KvSegment[],
  shape: AttentionShape,
  scores: Float32Array,
): void {
  const { heads, kvHeads, headDim, scale } = shape;
  const group = heads / kvHeads;
  const qDim = heads * headDim;
  const kvDim = kvHeads * headDim;
  for (let i = 0; i < count; i++) {
    const end = first + i + 1; // causal: positions [0, end)
    const qBase = (qRow + i) * qDim;
    for (let h = 0; h < heads; h++) {
      const qOff = qBase + h * headDim;
      const kvOff = Math.floor(h / group) * headDim;
      let max = -Infinity;
      for (const seg of segments) {
        const n = Math.min(seg.count, end - seg.start);
        for (let j = 0; j < n; j++) {
          const kOff = (seg.row + j) * kvDim + kvOff;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[qOff + d]! * seg.keys[kOff + d]!;
          const s = dot * scale;
          scores[seg.start + j] = s;
          if (s > max) max = s;
        }
      }
      let sum = 0;
      for (let p = 0; p < end; p++) {
        const e = Math.exp(scores[p]! - max);
        scores[p] = e;
        sum += e;
      }
      const inv = 1 / sum;
      const oOff = qBase + h * headDim;
      for (let d = 0; d < headDim; d++) out[oOff + d] = 0;
      for (const seg of segments) {
        const n = Math.min(seg.count, end - seg.start);
        for (let j = 0; j < n; j++) {
          const p = scores[seg.start + j]! * inv;
          const vOff = (seg.row + j) * kvDim + kvOff;
          for (let d = 0; d < headDim; d++) out[oOff + d] += p * seg.values[vOff + d]!;
        }
      }
    }
  }
}
