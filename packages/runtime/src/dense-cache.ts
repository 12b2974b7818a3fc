import type { CacheEntry, FreshKv, KvCache, PastLayout, RunEntry } from "./kv-cache.js";
import type { KvNames, KvType } from "./manifest.js";
import type { Feed } from "./ort.js";
import { type KvArray, type Prefix, kvArray } from "./prefix.js";

export interface DenseCacheOptions {
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly type: KvType;
  /** The graph's past inputs. */
  readonly past: KvNames;
  readonly prefix: Prefix | null;
  readonly maxPositions: number;
  /** Rows allocated at first (sequences held at once without growing). */
  readonly rows: number;
  /** Capacity grows and shrinks in steps of this many positions. */
  readonly chunk: number;
}

class DenseEntry implements CacheEntry {
  readonly cache: DenseCache;
  readonly row: number;
  /** Positions this sequence holds after the current call. */
  need: number;

  constructor(cache: DenseCache, row: number, need: number) {
    this.cache = cache;
    this.row = row;
    this.need = need;
  }
}

/**
 * The dense layout: per layer and kind one buffer [rows, kv_heads,
 * capacity, head_dim], a row per live sequence (the lowest free row, kept
 * until the sequence is released). A run of sequences that continue is fed
 * the contiguous range of rows from the lowest to the highest of them,
 * whole (`capacity` positions each, zeros in attention_mask past each
 * row's length), as views of the buffers: no copy. Capacity follows the
 * longest live sequence, rounded up to `chunk`, so what every step reads
 * stays close to the context actually held; growing or shrinking copies
 * the buffers once. A run of new sequences (holding only the prefix) is
 * fed the prefix, repeated for each row, instead.
 */
export class DenseCache implements KvCache {
  readonly kind = "dense";
  readonly #o: DenseCacheOptions;
  readonly #prefixLength: number;
  #rows = 0;
  #capacity = 0;
  #keys: KvArray[] = []; // per layer [rows, kv_heads, capacity, head_dim]
  #values: KvArray[] = []; // per layer [rows, kv_heads, capacity, head_dim]
  #owners: (DenseEntry | null)[] = []; // per row
  readonly #prefixFeeds = new Map<number, Record<string, Feed>>(); // by batch size

  constructor(options: DenseCacheOptions) {
    for (const [what, v] of [["rows", options.rows], ["chunk", options.chunk]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`dense KV cache: ${what} must be a positive integer, got ${v}`);
    }
    this.#o = options;
    this.#prefixLength = options.prefix?.length ?? 0;
    this.#resize(options.rows, this.#rounded(this.#prefixLength));
  }

  /** Rows and positions per row allocated now. */
  get shape(): { readonly rows: number; readonly capacity: number } {
    return { rows: this.#rows, capacity: this.#capacity };
  }

  bytes(): number {
    const perElement = this.#o.type === "float32" ? 4 : 2;
    return 2 * this.#o.layers * this.#rows * this.#o.kvHeads * this.#capacity * this.#o.headDim * perElement;
  }

  describe(): string {
    return `dense KV cache (a row per sequence, capacity in steps of ${this.#o.chunk} positions)`;
  }

  canAllocate(positions: number): boolean {
    return positions <= this.#o.maxPositions;
  }

  open(reserve: number | null): CacheEntry | null {
    if (reserve !== null && !this.canAllocate(reserve)) return null;
    let row = this.#owners.indexOf(null);
    if (row < 0) {
      row = this.#rows;
      this.#resize(Math.max(this.#rows * 2, 1), this.#capacity);
    }
    const entry = new DenseEntry(this, row, this.#prefixLength);
    this.#owners[row] = entry;
    const prefix = this.#o.prefix;
    if (prefix !== null) {
      const { kvHeads, headDim } = this.#o;
      for (let l = 0; l < this.#o.layers; l++) {
        for (const [source, target] of [[prefix.keys[l]!, this.#keys[l]!], [prefix.values[l]!, this.#values[l]!]] as const) {
          for (let h = 0; h < kvHeads; h++) {
            target.set(source.subarray(h * prefix.length * headDim, (h + 1) * prefix.length * headDim), this.#offset(row, h, 0));
          }
        }
      }
    }
    return entry;
  }

  close(entry: CacheEntry): void {
    const e = this.#own(entry);
    this.#owners[e.row] = null;
  }

  prepare(needs: readonly { readonly entry: CacheEntry; readonly positions: number }[]): void {
    for (const { entry, positions } of needs) {
      if (positions > this.#o.maxPositions) throw new Error(`a sequence of ${positions} positions exceeds the model's ${this.#o.maxPositions}`);
      const e = this.#own(entry);
      e.need = Math.max(e.need, positions);
    }
    let longest = this.#prefixLength;
    for (const e of this.#owners) if (e !== null) longest = Math.max(longest, e.need);
    const capacity = this.#rounded(longest);
    // Grow to what is needed; shrink only past one spare chunk, so a sequence ending at a chunk boundary does not reallocate twice.
    if (capacity > this.#capacity || capacity + this.#o.chunk < this.#capacity) this.#resize(this.#rows, capacity);
  }

  past(run: readonly RunEntry[]): PastLayout {
    const { layers, kvHeads, headDim, type, past } = this.#o;
    if (run.every((r) => r.held === this.#prefixLength)) {
      return { rows: run.map((_, i) => i), width: this.#prefixLength, feeds: this.#prefixFeed(run.length) };
    }
    const rows = run.map((r) => this.#own(r.entry).row);
    const lo = Math.min(...rows);
    const hi = Math.max(...rows);
    const batch = Array.from({ length: hi - lo + 1 }, (_, i) => rows.indexOf(lo + i));
    const perRow = kvHeads * this.#capacity * headDim;
    const dims = [batch.length, kvHeads, this.#capacity, headDim];
    const feeds: Record<string, Feed> = {};
    for (let l = 0; l < layers; l++) {
      feeds[past.key(l)] = { type, data: this.#keys[l]!.subarray(lo * perRow, (hi + 1) * perRow), dims };
      feeds[past.value(l)] = { type, data: this.#values[l]!.subarray(lo * perRow, (hi + 1) * perRow), dims };
    }
    return { rows: batch, width: this.#capacity, feeds };
  }

  write(entry: CacheEntry, layer: number, kind: "key" | "value", fresh: FreshKv, row: number, from: number, count: number, at: number): void {
    const e = this.#own(entry);
    if (at + count > this.#capacity) throw new Error(`dense KV cache: positions ${at}..${at + count} are past the capacity ${this.#capacity} (prepare was not called)`);
    const { kvHeads, headDim } = this.#o;
    const target = (kind === "key" ? this.#keys : this.#values)[layer]!;
    for (let h = 0; h < kvHeads; h++) {
      const src = ((row * kvHeads + h) * fresh.width + from) * headDim;
      target.set(fresh.data.subarray(src, src + count * headDim), this.#offset(e.row, h, at));
    }
  }

  #offset(row: number, head: number, position: number): number {
    return ((row * this.#o.kvHeads + head) * this.#capacity + position) * this.#o.headDim;
  }

  #rounded(positions: number): number {
    const chunk = this.#o.chunk;
    return Math.min(Math.max(chunk, Math.ceil(positions / chunk) * chunk), Math.max(this.#o.maxPositions, positions));
  }

  /** Reallocates every buffer as [rows, kv_heads, capacity, head_dim], keeping each live row's positions that fit. */
  #resize(rows: number, capacity: number): void {
    const { layers, kvHeads, headDim, type } = this.#o;
    const keep = Math.min(capacity, this.#capacity);
    // old [rows_before, kv_heads, capacity_before, head_dim] -> [rows, kv_heads, capacity, head_dim]
    const move = (old: KvArray | undefined): KvArray => {
      const next = kvArray(type, rows * kvHeads * capacity * headDim);
      if (old === undefined) return next;
      for (const e of this.#owners) {
        if (e === null) continue;
        for (let h = 0; h < kvHeads; h++) {
          const src = ((e.row * kvHeads + h) * this.#capacity) * headDim;
          next.set(old.subarray(src, src + keep * headDim), ((e.row * kvHeads + h) * capacity) * headDim);
        }
      }
      return next;
    };
    const keys: KvArray[] = [];
    const values: KvArray[] = [];
    for (let l = 0; l < layers; l++) {
      keys.push(move(this.#keys[l]));
      values.push(move(this.#values[l]));
    }
    this.#keys = keys;
    this.#values = values;
    this.#rows = rows;
    this.#capacity = capacity;
    while (this.#owners.length < rows) this.#owners.push(null);
  }

  /** The prefix as the past of `batch` new sequences, [batch, kv_heads, prefix, head_dim] per input. */
  #prefixFeed(batch: number): Record<string, Feed> {
    const cached = this.#prefixFeeds.get(batch);
    if (cached !== undefined) return cached;
    const { layers, kvHeads, headDim, type, past, prefix } = this.#o;
    const length = this.#prefixLength;
    const dims = [batch, kvHeads, length, headDim];
    const feeds: Record<string, Feed> = {};
    // one [kv_heads, prefix, head_dim] -> [batch, kv_heads, prefix, head_dim]
    const repeat = (one: KvArray | undefined): KvArray => {
      const out = kvArray(type, batch * kvHeads * length * headDim);
      if (one !== undefined) for (let b = 0; b < batch; b++) out.set(one, b * one.length);
      return out;
    };
    for (let l = 0; l < layers; l++) {
      feeds[past.key(l)] = { type, data: repeat(prefix?.keys[l]), dims };
      feeds[past.value(l)] = { type, data: repeat(prefix?.values[l]), dims };
    }
    this.#prefixFeeds.set(batch, feeds);
    return feeds;
  }

  #own(entry: CacheEntry): DenseEntry {
    if (!(entry instanceof DenseEntry) || entry.cache !== this || this.#owners[entry.row] !== entry) {
      throw new Error("dense KV cache: this sequence is not held here (released already, or from another model)");
    }
    return entry;
  }
}
