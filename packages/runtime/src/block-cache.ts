import type { CacheEntry, FreshKv, KvCache, PastLayout, RunEntry } from "./kv-cache.js";
import type { KvNames, KvType } from "./manifest.js";
import type { Feed } from "./ort.js";
import { type KvArray, type Prefix, kvArray } from "./prefix.js";

export interface BlockCacheOptions {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly type: KvType;
  /** The graph's pool inputs and block table input. */
  readonly pools: KvNames;
  readonly tables: string;
  readonly blockSize: number;
  /** Blocks in the pool (of each layer and kind). */
  readonly numBlocks: number;
  readonly prefix: Prefix | null;
  readonly maxPositions: number;
}

class BlockEntry implements CacheEntry {
  readonly cache: BlockCache;
  /** Block ids holding positions [i*block_size, (i+1)*block_size), the shared prefix blocks first. */
  readonly table: number[];
  /** Blocks set aside for this sequence and not taken yet. */
  promised: number;
  open = true;

  constructor(cache: BlockCache, table: number[], promised: number) {
    this.cache = cache;
    this.table = table;
    this.promised = promised;
  }
}

/**
 * Block attention's cache: per layer and kind one pool [num_blocks,
 * kv_heads, block_size, head_dim] fed whole to the graph (no copy), and a
 * block table per sequence. A sequence takes blocks as its positions
 * arrive, lowest ids first; `open(reserve)` sets aside the blocks a
 * sequence will need so the scheduler admits a prompt only when it fits.
 * The prefix's whole blocks are written once and shared by every sequence
 * (never written again: a sequence's own positions start after them); its
 * remainder is copied into each sequence's first own block.
 */
export class BlockCache implements KvCache {
  readonly kind = "blocks";
  readonly #o: BlockCacheOptions;
  readonly #keys: KvArray[] = []; // per layer [num_blocks, kv_heads, block_size, head_dim]
  readonly #values: KvArray[] = []; // per layer [num_blocks, kv_heads, block_size, head_dim]
  readonly #free: number[] = []; // a stack: the lowest id on top
  readonly #shared: number[] = []; // the prefix's whole blocks
  #promised = 0;

  constructor(options: BlockCacheOptions) {
    const { layers, kvHeads, headDim, type, blockSize, numBlocks } = options;
    for (const [what, v] of [["block size", blockSize], ["number of blocks", numBlocks]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`block KV cache: the ${what} must be a positive integer, got ${v}`);
    }
    this.#o = options;
    for (let l = 0; l < layers; l++) {
      this.#keys.push(kvArray(type, numBlocks * kvHeads * blockSize * headDim));
      this.#values.push(kvArray(type, numBlocks * kvHeads * blockSize * headDim));
    }
    for (let b = numBlocks - 1; b >= 0; b--) this.#free.push(b);
    const prefix = options.prefix;
    if (prefix !== null) {
      const whole = Math.floor(prefix.length / blockSize);
      if (whole > numBlocks) throw new Error(`block KV cache: the prefix of ${prefix.length} positions needs ${whole} blocks of ${blockSize}, the pool has ${numBlocks}`);
      for (let i = 0; i < whole; i++) this.#shared.push(this.#free.pop()!);
      this.#copyPrefix(prefix, this.#shared, 0, whole * blockSize);
    }
  }

  get blockSize(): number {
    return this.#o.blockSize;
  }

  /** Blocks neither taken nor set aside. */
  get available(): number {
    return this.#free.length - this.#promised;
  }

  bytes(): number {
    const perElement = this.#o.type === "float32" ? 4 : 2;
    return 2 * this.#o.layers * this.#o.numBlocks * this.#o.kvHeads * this.#o.blockSize * this.#o.headDim * perElement;
  }

  describe(): string {
    return `block attention (${this.#o.numBlocks} blocks of ${this.#o.blockSize} positions)`;
  }

  /** Blocks a sequence of `positions` positions takes beyond the shared prefix blocks. */
  blocksFor(positions: number): number {
    return Math.max(0, Math.ceil(positions / this.#o.blockSize) - this.#shared.length);
  }

  canAllocate(positions: number): boolean {
    return positions <= this.#o.maxPositions && this.blocksFor(Math.max(positions, this.#prefixLength)) <= this.available;
  }

  open(reserve: number | null): CacheEntry | null {
    let promised = 0;
    if (reserve !== null) {
      if (!this.canAllocate(reserve)) return null;
      promised = this.blocksFor(Math.max(reserve, this.#prefixLength));
      this.#promised += promised;
    }
    const entry = new BlockEntry(this, [...this.#shared], promised);
    const held = this.#shared.length * this.#o.blockSize;
    const prefix = this.#o.prefix;
    if (prefix !== null && prefix.length > held) {
      this.#take(entry);
      this.#copyPrefix(prefix, entry.table.slice(this.#shared.length), held, prefix.length);
    }
    return entry;
  }

  close(entry: CacheEntry): void {
    const e = this.#own(entry);
    for (let i = e.table.length - 1; i >= this.#shared.length; i--) this.#free.push(e.table[i]!);
    this.#free.sort((a, b) => b - a);
    this.#promised -= e.promised;
    e.promised = 0;
    e.open = false;
  }

  prepare(needs: readonly { readonly entry: CacheEntry; readonly positions: number }[]): void {
    const { blockSize, maxPositions, numBlocks } = this.#o;
    let more = 0;
    for (const { entry, positions } of needs) {
      if (positions > maxPositions) throw new Error(`a sequence of ${positions} positions exceeds the model's ${maxPositions}`);
      const e = this.#own(entry);
      more += Math.max(0, Math.ceil(positions / blockSize) - e.table.length - e.promised);
    }
    if (more > this.available) {
      throw new Error(`KV block pool exhausted: ${more} more blocks of ${blockSize} positions needed, ${this.available} of ${numBlocks} free (allocate sequences with allocateSequence, or give the pool more blocks)`);
    }
    for (const { entry, positions } of needs) {
      const e = this.#own(entry);
      while (e.table.length * blockSize < positions) this.#take(e);
    }
  }

  past(run: readonly RunEntry[]): PastLayout {
    const { layers, type, pools, tables, numBlocks, kvHeads, blockSize, headDim } = this.#o;
    const entries = run.map((r) => this.#own(r.entry));
    const width = Math.max(...run.map((r) => Math.ceil(r.held / blockSize)));
    const table = new BigInt64Array(run.length * width);
    entries.forEach((e, b) => {
      // Positions past a row's length are masked; any valid block id fills its table.
      for (let i = 0; i < width; i++) table[b * width + i] = BigInt(e.table[i] ?? 0);
    });
    const feeds: Record<string, Feed> = { [tables]: { type: "int64", data: table, dims: [run.length, width] } };
    const dims = [numBlocks, kvHeads, blockSize, headDim];
    for (let l = 0; l < layers; l++) {
      feeds[pools.key(l)] = { type, data: this.#keys[l]!, dims };
      feeds[pools.value(l)] = { type, data: this.#values[l]!, dims };
    }
    return { rows: run.map((_, i) => i), width: width * blockSize, feeds };
  }

  write(entry: CacheEntry, layer: number, kind: "key" | "value", fresh: FreshKv, row: number, from: number, count: number, at: number): void {
    const e = this.#own(entry);
    const { kvHeads, blockSize, headDim } = this.#o;
    const pool = (kind === "key" ? this.#keys : this.#values)[layer]!;
    for (let done = 0; done < count; ) {
      const position = at + done;
      const block = e.table[Math.floor(position / blockSize)];
      if (block === undefined) throw new Error(`block KV cache: position ${position} has no block (prepare was not called)`);
      const offset = position % blockSize;
      const n = Math.min(count - done, blockSize - offset);
      for (let h = 0; h < kvHeads; h++) {
        const src = ((row * kvHeads + h) * fresh.width + from + done) * headDim;
        pool.set(fresh.data.subarray(src, src + n * headDim), ((block * kvHeads + h) * blockSize + offset) * headDim);
      }
      done += n;
    }
  }

  get #prefixLength(): number {
    return this.#o.prefix?.length ?? 0;
  }

  /** Takes a block for `e`: one promised to it, or a free one. */
  #take(e: BlockEntry): void {
    if (e.promised > 0) {
      e.promised--;
      this.#promised--;
    } else if (this.available <= 0) {
      throw new Error(`KV block pool exhausted: all ${this.#o.numBlocks} blocks of ${this.#o.blockSize} positions are held or set aside`);
    }
    e.table.push(this.#free.pop()!);
  }

  /** Copies prefix positions [start, end) into `blocks`, which hold positions from `start` on. */
  #copyPrefix(prefix: Prefix, blocks: readonly number[], start: number, end: number): void {
    const { layers, kvHeads, blockSize, headDim } = this.#o;
    for (let l = 0; l < layers; l++) {
      for (const [source, pool] of [[prefix.keys[l]!, this.#keys[l]!], [prefix.values[l]!, this.#values[l]!]] as const) {
        for (let p = start; p < end; p++) {
          const block = blocks[Math.floor((p - start) / blockSize)]!;
          for (let h = 0; h < kvHeads; h++) {
            const src = (h * prefix.length + p) * headDim;
            pool.set(source.subarray(src, src + headDim), ((block * kvHeads + h) * blockSize + (p % blockSize)) * headDim);
          }
        }
      }
    }
  }

  #own(entry: CacheEntry): BlockEntry {
    if (!(entry instanceof BlockEntry) || entry.cache !== this || !entry.open) {
      throw new Error("block KV cache: this sequence is not held here (released already, or from another model)");
    }
    return entry;
  }
}
