/**
 * KV caches of the eager model, held in the compute pool's shared memory so
 * that the attention kernel reads them in place on every thread. Attention
 * reads a sequence's cached keys and values as a list of segments, runs of
 * consecutive positions stored contiguously, so one kernel serves both
 * layouts: a dense cache is one segment per layer, a paged cache one segment
 * per block.
 */
import type { ComputePool, DeviceBuffer, KvSegment } from "@oar/tensor";

export type { KvSegment } from "@oar/tensor";

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
  /**
   * A new sequence with room for `positions` positions in all set aside now
   * (a paged cache promises it blocks that no later sequence may take), or
   * null when the cache cannot hold them.
   */
  allocate(positions: number): SequenceCache | null;
  release(seq: SequenceCache): void;
  /** Whether a new sequence of `positions` positions can be stored now (blocks promised to others excluded). */
  canAllocate(positions: number): boolean;
  /** Makes room for positions [seq.length, seq.length + count) in every layer; throws if the cache cannot. */
  reserve(seq: SequenceCache, count: number): void;
  /** Writes rows srcRow.. of keys and values [.., kvDim] into `layer` at positions [start, start + count). */
  write(seq: SequenceCache, layer: number, start: number, count: number, keys: Float32Array, values: Float32Array, srcRow: number): void;
  /** Segments covering positions [0, end) of `layer`, views of the pool's memory. */
  segments(seq: SequenceCache, layer: number, end: number): KvSegment[];
  /** Bytes of key/value storage allocated now. */
  bytesAllocated(): number;
}

export interface CacheShape {
  readonly layers: number;
  readonly kvDim: number;
  readonly maxPositions: number;
}

/** A dense sequence's buffer starts with room for this many positions. */
const DENSE_FIRST_CHUNK = 64;

/**
 * One buffer per sequence, [layers, 2 (keys, values), capacity, kvDim], that
 * grows in chunks (the first of 64 positions, then doubling, capped at
 * maxPositions) by moving to a larger buffer, so memory follows the positions
 * a sequence holds and each layer stays one segment.
 */
export function denseKvCache(pool: ComputePool, shape: CacheShape): KvCache {
  interface Dense extends SequenceCache {
    capacity: number;
    buffer: DeviceBuffer | null; // [layers, 2, capacity, kvDim]
    keys: Float32Array[]; // per layer [capacity, kvDim], views of buffer
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
      const seq: Dense = { id: nextId++, length: 0, capacity: 0, buffer: null, keys: [], values: [] };
      live.add(seq);
      return seq;
    },
    allocate(positions) {
      return positions <= maxPositions ? this.create() : null;
    },
    release(s) {
      const seq = asDense(s);
      if (seq.buffer !== null) pool.freeBuffer(seq.buffer);
      live.delete(seq);
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
      const capacity = Math.min(maxPositions, Math.max(need, 2 * seq.capacity, DENSE_FIRST_CHUNK));
      const plane = capacity * kvDim; // floats of one layer's keys (or values)
      const buffer = pool.allocBuffer(layers * 2 * plane * 4);
      const keys: Float32Array[] = [];
      const values: Float32Array[] = [];
      for (let l = 0; l < layers; l++) {
        const k = buffer.f32.subarray(2 * l * plane, (2 * l + 1) * plane);
        const v = buffer.f32.subarray((2 * l + 1) * plane, (2 * l + 2) * plane);
        if (seq.length > 0) {
          k.set(seq.keys[l]!.subarray(0, seq.length * kvDim));
          v.set(seq.values[l]!.subarray(0, seq.length * kvDim));
        }
        keys.push(k);
        values.push(v);
      }
      if (seq.buffer !== null) pool.freeBuffer(seq.buffer);
      seq.buffer = buffer;
      seq.keys = keys;
      seq.values = values;
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
      for (const seq of live) n += seq.buffer?.bytes ?? 0;
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
 * from one pool, and a block table per sequence. Each layer's blocks are one
 * buffer [2 (keys, values), numBlocks * blockSize, kvDim], so a layer may sit
 * in any of the compute pool's memories. A sequence takes blocks as its
 * positions arrive, so the memory touched follows the tokens held, not
 * batch x max_length; attention reads the blocks in place.
 */
export function pagedKvCache(pool: ComputePool, shape: PagedShape): KvCache {
  interface Paged extends SequenceCache {
    table: number[];
    /** Blocks set aside for this sequence by allocate and not taken yet. */
    promised: number;
  }
  const { layers, kvDim, maxPositions, blockSize, numBlocks } = shape;
  const plane = numBlocks * blockSize * kvDim; // floats of one layer's keys (or values)
  const keys: Float32Array[] = []; // per layer [numBlocks*blockSize, kvDim]
  const values: Float32Array[] = []; // per layer [numBlocks*blockSize, kvDim]
  for (let l = 0; l < layers; l++) {
    const buffer = pool.allocBuffer(2 * plane * 4);
    keys.push(buffer.f32.subarray(0, plane));
    values.push(buffer.f32.subarray(plane));
  }
  // Lowest block ids first, so a short run touches only the start of the pool.
  const free: number[] = [];
  for (let b = numBlocks - 1; b >= 0; b--) free.push(b);
  let nextId = 0;
  let promised = 0; // blocks set aside for live sequences, not taken yet
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
      const seq: Paged = { id: nextId++, length: 0, table: [], promised: 0 };
      live.add(seq);
      return seq;
    },
    allocate(positions) {
      if (!this.canAllocate(positions)) return null;
      const seq = this.create() as Paged;
      seq.promised = blocksFor(positions);
      promised += seq.promised;
      return seq;
    },
    release(s) {
      const seq = asPaged(s);
      for (let i = seq.table.length - 1; i >= 0; i--) free.push(seq.table[i]!);
      seq.table = [];
      promised -= seq.promised;
      seq.promised = 0;
      live.delete(seq);
    },
    canAllocate(positions) {
      return positions <= maxPositions && blocksFor(positions) <= free.length - promised;
    },
    reserve(s, count) {
      const seq = asPaged(s);
      const need = seq.length + count;
      if (need > maxPositions) throw new Error(`sequence of ${need} positions exceeds the model's ${maxPositions}`);
      const more = blocksFor(need) - seq.table.length;
      // Its own promise first, then blocks nobody was promised.
      const own = Math.min(more, seq.promised);
      if (more - own > free.length - promised) {
        throw new Error(
          `KV block pool exhausted: ${more} more blocks of ${blockSize} needed, ${free.length - promised} of ${numBlocks} free and not promised (allocate sequences with allocateSequence, or give the pool more blocks)`,
        );
      }
      seq.promised -= own;
      promised -= own;
      for (let i = 0; i < more; i++) seq.table.push(free.pop()!);
    },
    write(s, layer, start, count, k, v, srcRow) {
      const seq = asPaged(s);
      // Block by block: the positions of one block are consecutive rows.
      for (let pos = start; pos < start + count; ) {
        const block = seq.table[Math.floor(pos / blockSize)];
        if (block === undefined) throw new Error(`write past reserved positions (${pos})`);
        const n = Math.min(blockSize - (pos % blockSize), start + count - pos);
        const dst = (block * blockSize + (pos % blockSize)) * kvDim;
        const src = (srcRow + pos - start) * kvDim;
        keys[layer]!.set(k.subarray(src, src + n * kvDim), dst);
        values[layer]!.set(v.subarray(src, src + n * kvDim), dst);
        pos += n;
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
