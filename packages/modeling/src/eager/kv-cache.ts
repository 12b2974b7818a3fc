/**
 * KV caches of the eager model. Attention reads a sequence's cached keys and
 * values as a list of segments, runs of consecutive positions stored
 * contiguously, so one attention loop serves both layouts: a dense cache is
 * one segment per layer, a paged cache one segment per block, read in place.
 */

/** Consecutive cached positions [start, start+count) of one layer, rows of kv_heads*head_dim floats. */
export interface KvSegment {
  readonly keys: Float32Array; // [.., kv_heads*head_dim]
  readonly values: Float32Array; // [.., kv_heads*head_dim]
  /** Row in keys/values of position `start`. */
  readonly row: number;
  readonly start: number;
  readonly count: number;
}

/** One sequence's cache. `length` counts positions written in every layer. */
export interface SequenceCache {
  readonly id: number;
  length: number;
}

export interface KvCache {
  readonly kind: "dense" | "paged";
  /** Floats per cached position and layer, for each of keys and values. */
  readonly kvDim: number;
  create(): SequenceCache;
  release(seq: SequenceCache): void;
  /** Whether a new sequence of `positions` positions can be stored now. */
  canAllocate(positions: number): boolean;
  /** Makes room for positions [seq.length, seq.length + count) in every layer; throws if the cache cannot. */
  reserve(seq: SequenceCache, count: number): void;
  /** Writes `count` rows of keys and values [count, kvDim] of `layer` at positions from `start`. */
  write(seq: SequenceCache, layer: number, start: number, count: number, keys: Float32Array, values: Float32Array, srcRow: number): void;
  /** Segments covering positions [0, end) of `layer`. */
  segments(seq: SequenceCache, layer: number, end: number): KvSegment[];
  /** Bytes of key/value storage allocated now. */
  bytesAllocated(): number;
}

export interface CacheShape {
  readonly layers: number;
  readonly kvDim: number;
  readonly maxPositions: number;
}

/**
 * One growable buffer per sequence and layer (doubling, capped at
 * maxPositions), so memory follows the positions a sequence holds.
 */
export function denseKvCache(shape: CacheShape): KvCache {
  interface Dense extends SequenceCache {
    capacity: number;
    keys: Float32Array[]; // per layer [capacity, kvDim]
    values: Float32Array[]; // per layer [capacity, kvDim]
  }
  const { layers, kvDim, maxPositions } = shape;
  let nextId = 0;
  const live = new Set<Dense>();
  const asDense = (seq: SequenceCache): Dense => {
    if (!live.has(seq as Dense)) throw new Error(`sequence ${seq.id} is not held by this cache (released already?)`);
    return seq as Dense;
  };
  return {
    kind: "dense",
    kvDim,
    create() {
      const seq: Dense = { id: nextId++, length: 0, capacity: 0, keys: [], values: [] };
      live.add(seq);
      return seq;
    },
    release(seq) {
      live.delete(asDense(seq));
    },
    canAllocate(positions) {
      return positions <= maxPositions;
    },
    reserve(s, count) {
      const seq = asDense(s);
      const need = seq.length + count;
      if (need > maxPositions) {
        throw new Error(`sequence of ${need} positions exceeds the model's ${maxPositions}`);
      }
      if (need <= seq.capacity) return;
      const capacity = Math.min(maxPositions, Math.max(need, 2 * seq.capacity, 16));
      for (let l = 0; l < layers; l++) {
        const k = new Float32Array(capacity * kvDim);
        const v = new Float32Array(capacity * kvDim);
        if (seq.capacity > 0) {
          k.set(seq.keys[l]!.subarray(0, seq.length * kvDim));
          v.set(seq.values[l]!.subarray(0, seq.length * kvDim));
        }
        seq.keys[l] = k;
        seq.values[l] = v;
      }
      seq.capacity = capacity;
    },
    write(s, layer, start, count, keys, values, srcRow) {
      const seq = asDense(s);
      if (start + count > seq.capacity) throw new Error(`write past reserved positions (${start + count} > ${seq.capacity})`);
      seq.keys[layer]!.set(keys.subarray(srcRow * kvDim, (srcRow + count) * kvDim), start * kvDim);
      seq.values[layer]!.set(values.subarray(srcRow * kvDim, (srcRow + count) * kvDim), start * kvDim);
    },
    segments(s, layer, end) {
      const seq = asDense(s);
      return [{ keys: seq.keys[layer]!, values: seq.values[layer]!, row: 0, start: 0, count: end }];
    },
    bytesAllocated() {
      let n = 0;
      for (const seq of live) n += seq.capacity * kvDim * 4 * 2 * layers;
      return n;
    },
  };
}

export interface PagedShape extends CacheShape {
  readonly blockSize: number;
  readonly numBlocks: number;
}

/**
 * Block attention's cache: fixed-size blocks of `blockSize` positions drawn
 * from one pool per layer, and a block table per sequence. A sequence takes
 * blocks as its positions arrive, so memory follows the tokens held, not
 * batch x max_length.
 */
export function pagedKvCache(shape: PagedShape): KvCache {
  interface Paged extends SequenceCache {
    table: number[];
  }
  const { layers, kvDim, maxPositions, blockSize, numBlocks } = shape;
  const keys: Float32Array[] = []; // per layer [numBlocks*blockSize, kvDim]
  const values: Float32Array[] = []; // per layer [numBlocks*blockSize, kvDim]
  for (let l = 0; l < layers; l++) {
    keys.push(new Float32Array(numBlocks * blockSize * kvDim));
    values.push(new Float32Array(numBlocks * blockSize * kvDim));
  }
  // Lowest block ids first, so a short run touches only the start of the pool.
  const free: number[] = [];
  for (let b = numBlocks - 1; b >= 0; b--) free.push(b);
  let nextId = 0;
  const live = new Set<Paged>();
  const asPaged = (seq: SequenceCache): Paged => {
    if (!live.has(seq as Paged)) throw new Error(`sequence ${seq.id} is not held by this cache (released already?)`);
    return seq as Paged;
  };
  const blocksFor = (positions: number): number => Math.ceil(positions / blockSize);
  return {
    kind: "paged",
    kvDim,
    create() {
      const seq: Paged = { id: nextId++, length: 0, table: [] };
      live.add(seq);
      return seq;
    },
    release(s) {
      const seq = asPaged(s);
      for (let i = seq.table.length - 1; i >= 0; i--) free.push(seq.table[i]!);
      seq.table = [];
      live.delete(seq);
    },
    canAllocate(positions) {
      return positions <= maxPositions && blocksFor(positions) <= free.length;
    },
    reserve(s, count) {
      const seq = asPaged(s);
      const need = seq.length + count;
      if (need > maxPositions) throw new Error(`sequence of ${need} positions exceeds the model's ${maxPositions}`);
      const more = blocksFor(need) - seq.table.length;
      if (more > free.length) {
        throw new Error(`KV block pool exhausted: ${more} more blocks of ${blockSize} needed, ${free.length} of ${numBlocks} free`);
      }
      for (let i = 0; i < more; i++) seq.table.push(free.pop()!);
    },
    write(s, layer, start, count, k, v, srcRow) {
      const seq = asPaged(s);
      for (let i = 0; i < count; i++) {
        const pos = start + i;
        const block = seq.table[Math.floor(pos / blockSize)];
        if (block === undefined) throw new Error(`write past reserved positions (${pos})`);
        const dst = (block * blockSize + (pos % blockSize)) * kvDim;
        const src = (srcRow + i) * kvDim;
        keys[layer]!.set(k.subarray(src, src + kvDim), dst);
        values[layer]!.set(v.subarray(src, src + kvDim), dst);
      }
    },
    segments(s, layer, end) {
      const seq = asPaged(s);
      const out: KvSegment[] = [];
      for (let start = 0; start < end; start += blockSize) {
        const block = seq.table[start / blockSize]!;
        out.push({ keys: keys[layer]!, values: values[layer]!, row: block * blockSize, start, count: Math.min(blockSize, end - start) });
      }
      return out;
    },
    bytesAllocated() {
      return (numBlocks - free.length) * blockSize * kvDim * 4 * 2 * layers;
    },
  };
}
