/**
 * The runtime's own KV cache. The graph returns only the step's new keys
 * and values (or, for a graph without those outputs, its present, of
 * which the runtime keeps the new positions); the cache appends them and
 * feeds its buffers back as the next step's past without copying them
 * (onnxruntime-node passes input buffers through). Two layouts:
 *
 * - dense (./dense-cache.ts): one slot-major buffer per layer and kind,
 *   [rows, kv_heads, capacity, head_dim], a row per sequence, the
 *   capacity grown and shrunk in chunks to follow the longest sequence;
 * - blocks (./block-cache.ts): block attention, a pool of fixed-size
 *   blocks per layer and kind and a block table per sequence.
 *
 * A sequence joining or leaving a batch copies no KV in either.
 */
import type { Feed } from "./ort.js";
import type { KvArray } from "./prefix.js";

/** A sequence's storage in a cache; only the cache that made it reads it. */
export interface CacheEntry {
  readonly cache: KvCache;
}

/** The past of one forward run, as the cache lays it out. */
export interface PastLayout {
  /**
   * The batch rows in order: each the index of the run's entry it holds,
   * or -1 for a row that only fills the batch (the dense layout feeds a
   * contiguous range of its rows; rows of that range outside the run
   * compute and are ignored).
   */
  readonly rows: readonly number[];
  /** Past positions every batch row is fed; a row holding fewer has zeros in attention_mask for the rest. */
  readonly width: number;
  /** The past inputs of the graph. */
  readonly feeds: Readonly<Record<string, Feed>>;
}

/** One sequence of a run: its storage and the positions it holds (prefix included). */
export interface RunEntry {
  readonly entry: CacheEntry;
  readonly held: number;
}

/** New keys or values of a run, as the graph returned them: [batch, kv_heads, width, head_dim]. */
export interface FreshKv {
  readonly data: KvArray; // [batch, kv_heads, width, head_dim]
  readonly width: number;
}

export interface KvCache {
  readonly kind: "dense" | "blocks";
  /** Bytes of KV storage allocated now. */
  bytes(): number;
  /** The layout and its size, in words. */
  describe(): string;
  /** Whether a sequence of `positions` positions in all (prefix included) could be given storage now. */
  canAllocate(positions: number): boolean;
  /**
   * Storage for a new sequence, holding the prefix. With `reserve`, memory
   * for that many positions in all is set aside for it now, or null is
   * returned when there is not enough.
   */
  open(reserve: number | null): CacheEntry | null;
  close(entry: CacheEntry): void;
  /** Makes room, before a forward call, for each entry to hold `positions`; throws with the reason when it cannot. */
  prepare(needs: readonly { readonly entry: CacheEntry; readonly positions: number }[]): void;
  /** The past feeds of a run of these sequences. */
  past(run: readonly RunEntry[]): PastLayout;
  /**
   * Writes positions [from, from+count) of batch row `row` of `fresh` (one
   * layer's keys or values) into `entry` at positions [at, at+count).
   */
  write(entry: CacheEntry, layer: number, kind: "key" | "value", fresh: FreshKv, row: number, from: number, count: number, at: number): void;
}
