/**
 * The compute pool: weights and buffers (a KV cache) in shared WebAssembly
 * memories, the kernels of kernels.wat instantiated on each memory by every
 * thread, and matmuls and attention split across workers and the calling
 * thread.
 *
 * Memory layout of each memory:
 *   [0, 64)                          never used, so a pointer of 0 means "none"
 *   [64, 64 + scratchBytes)          scratch of one call: x, its q8 form, bias, out; attention's tables
 *   [.., top)                        weights and buffers, 64-byte aligned
 * Weights and buffers take the first range big enough among those buffers
 * gave back (freeBuffer), else the top of the memory, which grows; weights are
 * never freed. A weight or buffer lives entirely in one memory; a new memory
 * starts when none can take the next one, so a model over 4 GiB (V8's limit
 * for one wasm32 memory) still loads. Memories only grow, and a shared
 * memory's old buffers stay valid at their old length, so a view made after
 * the growth that covers it never needs re-creating; workers only touch memory
 * from wasm.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type AttentionSequence, type AttentionShape, checkAttention } from "./attention.js";
import { MAX_CHUNKS, Op, Slot, claimWord, createControl, runChunks, takeError } from "./control.js";
import { normalizeF16 } from "./f16.js";
import { type WeightFormat, type WeightLayout, type WeightSpec, elementBytes, weightLayout } from "./format.js";
import { type HostWeight, widenRow } from "./reference.js";
import {
  type KernelExports,
  type KernelVariant,
  MAX_PAGES,
  PAGE_BYTES,
  type WasmMemory,
  compileKernels,
  instantiate,
  sharedMemory,
} from "./wasm.js";
import type { AttachMessage } from "./serve.js";
import { warmUp } from "./warm-up.js";
import type { WorkerInit } from "./worker.js";

export interface PoolOptions {
  /** Threads that compute, the calling thread included; default os.availableParallelism(). */
  threads?: number;
  /** Bytes one shared memory may grow to; default and at most 4 GiB (V8's wasm32 limit). */
  memoryBytes?: number;
  /** Bytes of each memory set aside for the x, bias and out of a call; default 64 MiB (touched only as used). */
  scratchBytes?: number;
  /** How long an idle thread polls for the next job before sleeping; default 200 µs. */
  spinMicros?: number;
  /** A call whose workers make no progress for this long fails as if a worker died; default 30 s. */
  watchdogMs?: number;
  /** The kernels to run if the engine can (see KernelVariant); default "relaxed-simd". */
  kernels?: KernelVariant;
}

/** A weight matrix placed in the pool's memory. */
export interface DeviceWeight {
  readonly format: WeightFormat;
  readonly rows: number; // N
  readonly cols: number; // K
  /** q8: K elements per scale; 0 for other formats. */
  readonly blockSize: number;
  /** Bytes held in the pool (elements plus q8 scales). */
  readonly bytes: number;
  /** Index of the shared memory that holds it. */
  readonly memory: number;
}

/** Memory for data that outlives a call (a KV cache), placed in the pool's shared memory. */
export interface DeviceBuffer {
  /** Index of the shared memory that holds it. */
  readonly memory: number;
  readonly bytes: number;
  /** The buffer as floats: a view on the pool's memory, valid until freeBuffer. */
  readonly f32: Float32Array; // [bytes / 4]
}

export interface ComputePool {
  readonly threads: number;
  /** The kernels that run: "relaxed-simd" unless the engine lacks it or PoolOptions.kernels said "simd". */
  readonly kernels: KernelVariant;
  /** Shared memories in use (one more each time a weight does not fit the last). */
  readonly memories: number;
  /**
   * Reserves space for a weight and lets `fill` write its raw data straight
   * into the pool's memory (e.g. fs.readSync into `data`), so loading needs no
   * second copy. `data` holds the [rows, cols] elements (f32, bf16/f16 bits or
   * int8) as bytes; `scales` ([rows, cols / blockSize]) is given for q8. After
   * `fill`, f16 data with subnormals is rescaled in place by a power of two
   * (exactly; see f16.ts), so the views should not be read back.
   */
  allocWeight(
    spec: WeightSpec,
    fill: (dst: { data: Uint8Array; scales?: Float32Array }) => void,
  ): DeviceWeight;
  /** Quantizes an f32 weight, read a row at a time through getRow(row, out[cols]), to q8. */
  quantizeWeight(
    rows: number,
    cols: number,
    blockSize: number,
    getRow: (row: number, out: Float32Array) => void,
  ): DeviceWeight;
  /**
   * out[m, N] = x[m, K] · Wᵀ (+ bias[N]). Synchronous; the rows of W are split
   * across all threads, the calling one included.
   */
  matmul(
    x: Float32Array, // [m, K]
    m: number,
    w: DeviceWeight, // [N, K]
    out: Float32Array, // [m, N]
    bias?: Float32Array, // [N]
  ): void;
  /** Row `row` of W, widened or dequantized, into out[K] (an embedding lookup from a tied lm_head). */
  readRow(w: DeviceWeight, row: number, out: Float32Array): void;
  /**
   * Reserves `bytes` (a multiple of 4) in memory `memory`, or by default in
   * the first memory with room. Its contents are whatever was there: memory
   * fresh from the system reads as zeros, a range another buffer gave back
   * holds that buffer's data.
   */
  allocBuffer(bytes: number, options?: { memory?: number }): DeviceBuffer;
  /** Gives a buffer's range back for later buffers; its view must not be used afterwards. */
  freeBuffer(buffer: DeviceBuffer): void;
  /**
   * Causal attention (see attention.ts): for each sequence's queries, rows of
   * q [rows, heads*head_dim], softmax(scale * q.k) over the cached positions
   * up to the query's own weights the cached values, into the same rows of
   * out. The segments' keys and values must be views of buffers from
   * allocBuffer; the sequences whose cache is in one memory run as one job
   * there, split by (query, head) across the threads. Synchronous.
   */
  attention(
    q: Float32Array, // [rows, heads*head_dim]
    out: Float32Array, // [rows, heads*head_dim]
    shape: AttentionShape,
    sequences: readonly AttentionSequence[],
  ): void;
  /** out = x * sigmoid(x), elementwise, on the calling thread (out may be x). */
  silu(x: Float32Array, out: Float32Array): void;
  /** Stops the workers and drops the memories; the pool cannot be used afterwards. */
  dispose(): Promise<void>;
}

export function createComputePool(options: PoolOptions = {}): Promise<ComputePool> {
  return startPool(options, new URL("./worker.js", import.meta.url));
}

/** Where a weight lives. */
interface Placement {
  readonly arena: Arena;
  readonly layout: WeightLayout;
  readonly offset: number; // byte offset of the elements
  readonly scaleOffset: number; // byte offset of the q8 scales; 0 otherwise
  readonly shift: number; // f16: the data holds the values times 2^shift (see f16.ts); 0 otherwise
  readonly host: HostWeight; // views on the memory, for readRow
}

/** A range of a memory: [offset, offset + bytes). */
interface Range {
  offset: number;
  bytes: number;
}

/** One shared memory and what lives in it. */
interface Arena {
  readonly index: number;
  readonly memory: WasmMemory;
  readonly kernels: KernelExports; // instantiated on this memory for the calling thread
  readonly scratch: Float32Array; // [scratchBytes / 4] at SCRATCH_OFFSET
  readonly scratchInts: Int32Array; // the same bytes, for attention's tables
  readonly maxBytes: number;
  pages: number;
  top: number; // first byte above every weight and buffer
  /** Ranges below `top` that buffers gave back, by offset, none adjacent to another or to top. */
  readonly free: Range[];
}

/** Where a buffer lives. */
interface BufferPlacement {
  readonly arena: Arena;
  readonly offset: number;
  readonly bytes: number; // rounded up to ALIGN
}

/** A sequence of an attention call, with the byte address of each segment's first key row and value row. */
interface Placed {
  readonly seq: AttentionSequence;
  readonly keys: readonly number[];
  readonly values: readonly number[];
}

/** Queries [from, from + count) of a sequence, as one attention job takes them. */
interface QueryRun extends Placed {
  readonly from: number;
  readonly count: number;
}

/** Bytes of one attention task record and one segment record (see `attend` in kernels.wat). */
const TASK_BYTES = 32;
const SEGMENT_BYTES = 16;

const SCRATCH_OFFSET = 64;
const ALIGN = 64;
const GiB = 1024 ** 3;
/**
 * A call's x rows (as the kernel reads them: f32, or int16 for q8) are kept
 * under this many bytes, so they stay in the 2 MiB L2 while every W row
 * streams past them once; a larger M becomes several calls.
 */
const X_CACHE_BYTES = 1 << 20;
/** A gemv chunk streams about this many bytes of W: enough to dwarf the atomic that claims it. */
const GEMV_CHUNK_BYTES = 1 << 18;
/** A gemm chunk does about this many multiply-adds. */
const GEMM_CHUNK_MACS = 1 << 22;
/** An attention chunk does about this many multiply-adds (a few µs), or one task if that is more. */
const ATTEND_CHUNK_MACS = 1 << 15;
/** While waiting for workers the caller wakes this often to run the watchdog. */
const WAIT_SLICE_MS = 100;

const GEMV: Record<WeightFormat, number> = { f32: Op.GEMV_F32, bf16: Op.GEMV_BF16, f16: Op.GEMV_F16, q8: Op.GEMV_Q8 };
const GEMM: Record<WeightFormat, number> = { f32: Op.GEMM_F32, bf16: Op.GEMM_BF16, f16: Op.GEMM_F16, q8: Op.GEMM_Q8 };

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`PoolOptions.${name} must be a positive integer, got ${value}`);
  return v;
}

/** Starts a pool whose workers run `workerUrl` (tests pass a faulty worker). */
export async function startPool(options: PoolOptions, workerUrl: URL): Promise<ComputePool> {
  const threads = positiveInt("threads", options.threads, availableParallelism());
  const memoryBytes = Math.min(positiveInt("memoryBytes", options.memoryBytes, 4 * GiB), MAX_PAGES * PAGE_BYTES);
  const scratchBytes = align(positiveInt("scratchBytes", options.scratchBytes, 64 * 1024 ** 2), ALIGN);
  const spinMicros = options.spinMicros ?? 200;
  const watchdogMs = options.watchdogMs ?? 30_000;
  const maxPages = Math.floor(memoryBytes / PAGE_BYTES);
  const weightsStart = align(SCRATCH_OFFSET + scratchBytes, ALIGN);
  if (weightsStart + ALIGN > maxPages * PAGE_BYTES) {
    throw new Error(`PoolOptions.memoryBytes (${memoryBytes}) leaves no room for weights after ${scratchBytes} bytes of scratch`);
  }

  const { module, variant } = await compileKernels(options.kernels);
  warmUp(module);
  const control = createControl();
  const ctl = new Int32Array(control);
  const workers = await startWorkers(threads - 1, workerUrl, { module, control, generation: 0, spinMicros });

  const arenas: Arena[] = [];
  const instances: KernelExports[] = []; // arenas[i].kernels, as runChunks wants them
  const placements = new WeakMap<DeviceWeight, Placement>();
  const buffers = new WeakMap<DeviceBuffer, BufferPlacement>(); // live buffers only
  // Every SharedArrayBuffer object a view handed out was made on (a memory
  // gives a new one after each growth), to find the memory of a view.
  const viewArenas = new WeakMap<SharedArrayBuffer, Arena>();
  let broken: string | undefined; // why the pool can no longer run jobs
  let disposed = false;
  let generation = 0; // of the last job; GEN in ctl
  for (const [i, worker] of workers.entries()) {
    worker.on("error", (error) => {
      broken ??= `compute worker ${i + 1} failed: ${error.stack ?? error.message}`;
    });
    worker.on("exit", (code) => {
      if (!disposed) broken ??= `compute worker ${i + 1} exited with code ${code}`;
    });
  }

  function usable(): void {
    if (disposed) throw new Error("the compute pool was disposed");
    if (broken) throw new Error(`the compute pool is broken: ${broken}`);
  }

  /**
   * Publishes the job whose fields are in ctl, computes chunks of it on this
   * thread while awake workers do too, and returns when every chunk is done.
   */
  function execute(op: number): void {
    generation = (generation + 1) | 0;
    const chunks = ctl[Slot.CHUNKS]!;
    Atomics.store(ctl, Slot.OP, op);
    Atomics.store(ctl, Slot.DONE, 0);
    Atomics.store(ctl, Slot.CLAIM, claimWord(generation, chunks));
    Atomics.store(ctl, Slot.GEN, generation);
    if (Atomics.load(ctl, Slot.SLEEPERS) > 0) Atomics.notify(ctl, Slot.GEN);
    runChunks(ctl, instances, generation, "calling thread", 0);
    awaitChunks(chunks);
    const error = takeError(ctl);
    if (error !== undefined) throw new Error(error);
  }

  /** Waits until the chunks workers still hold are done; a worker that stops making progress breaks the pool. */
  function awaitChunks(chunks: number): void {
    const spinUntil = performance.now() + spinMicros / 1000;
    let progress = -1;
    let stalledSince = 0;
    for (let i = 1; ; i++) {
      const done = Atomics.load(ctl, Slot.DONE);
      if (done === chunks) return;
      if ((i & 1023) !== 0 || performance.now() < spinUntil) continue;
      Atomics.store(ctl, Slot.CALLER_SLEEPS, 1);
      const result = Atomics.wait(ctl, Slot.DONE, done, WAIT_SLICE_MS);
      Atomics.store(ctl, Slot.CALLER_SLEEPS, 0);
      if (result !== "timed-out") continue;
      if (done !== progress) {
        progress = done;
        stalledSince = performance.now();
      } else if (performance.now() - stalledSince > watchdogMs) {
        broken = `${chunks - done} chunk(s) claimed by a worker made no progress for ${watchdogMs} ms; the worker is presumed dead`;
        throw new Error(`the compute pool is broken: ${broken}`);
      }
    }
  }

  function newArena(): Arena {
    const index = arenas.length;
    const pages = Math.ceil(weightsStart / PAGE_BYTES);
    const memory = sharedMemory(pages, maxPages);
    const arena: Arena = {
      index,
      memory,
      kernels: instantiate(module, memory),
      scratch: new Float32Array(memory.buffer, SCRATCH_OFFSET, scratchBytes / 4),
      scratchInts: new Int32Array(memory.buffer, SCRATCH_OFFSET, scratchBytes / 4),
      maxBytes: maxPages * PAGE_BYTES,
      pages,
      top: weightsStart,
      free: [],
    };
    arenas.push(arena);
    instances.push(arena.kernels);
    // Each worker instantiates the kernels on it before its first job there (serve.ts).
    const message: AttachMessage = { memory };
    for (const worker of workers) worker.postMessage(message);
    return arena;
  }

  /** Rows of x one call can take: bounded by the L2 budget and by the scratch. */
  function rowsPerCall(layout: WeightLayout, hasBias: boolean): number {
    const { rows: n, cols: k, format } = layout;
    const perRow = k * 4 + (format === "q8" ? k * 2 + 4 : 0) + n * 4;
    const byScratch = Math.floor((scratchBytes - (hasBias ? n * 4 : 0) - 4 * ALIGN) / perRow);
    const byCache = Math.max(4, Math.floor(X_CACHE_BYTES / (k * (format === "q8" ? 2 : 4))));
    return Math.min(byScratch, byCache);
  }

  /** allocWeight, with the memory the weight went to passed to `fill` as well. */
  function allocate(
    spec: WeightSpec,
    fill: (dst: { data: Uint8Array; scales?: Float32Array }, arena: Arena) => void,
  ): DeviceWeight {
    usable();
    const layout = weightLayout(spec);
    if (rowsPerCall(layout, true) < 1) {
      throw new Error(
        `a [${layout.rows}, ${layout.cols}] weight needs more than PoolOptions.scratchBytes = ${scratchBytes} ` +
          `for one row of x and out plus the bias; raise it`,
      );
    }
    const scaleAt = align(layout.dataBytes, 16);
    const bytes = scaleAt + layout.scaleCount * 4;
    const capacity = maxPages * PAGE_BYTES - weightsStart;
    if (bytes > capacity) {
      throw new Error(
        `a ${layout.format} [${layout.rows}, ${layout.cols}] weight takes ${bytes} bytes; one memory holds at most ${capacity} ` +
          `(PoolOptions.memoryBytes = ${memoryBytes}, less the scratch)`,
      );
    }
    const last = arenas.at(-1);
    const arena = last && fits(last, bytes) ? last : newArena();
    const offset = place(arena, bytes);
    const buffer = arena.memory.buffer;
    const data = new Uint8Array(buffer, offset, layout.dataBytes);
    const scales = layout.format === "q8" ? new Float32Array(buffer, offset + scaleAt, layout.scaleCount) : undefined;
    fill(scales ? { data, scales } : { data }, arena);
    const shift = layout.format === "f16" ? normalizeF16(new Uint16Array(buffer, offset, layout.rows * layout.cols)) : 0;
    const weight: DeviceWeight = Object.freeze({
      format: layout.format,
      rows: layout.rows,
      cols: layout.cols,
      blockSize: layout.blockSize,
      bytes,
      memory: arena.index,
    });
    const host: HostWeight = { format: layout.format, rows: layout.rows, cols: layout.cols, blockSize: layout.blockSize, data };
    if (scales) host.scales = scales;
    placements.set(weight, { arena, layout, offset, scaleOffset: scales ? offset + scaleAt : 0, shift, host });
    return weight;
  }

  /** Whether `bytes` fit in a free range of the arena or above its top. */
  function fits(arena: Arena, bytes: number): boolean {
    const size = align(bytes, ALIGN);
    return arena.free.some((r) => r.bytes >= size) || arena.top + size <= arena.maxBytes;
  }

  /** Takes `bytes` (rounded up to ALIGN) of an arena that fits them: the first free range big enough, else the top. */
  function place(arena: Arena, bytes: number): number {
    const size = align(bytes, ALIGN);
    const i = arena.free.findIndex((r) => r.bytes >= size);
    if (i >= 0) {
      const range = arena.free[i]!;
      const offset = range.offset;
      range.offset += size;
      range.bytes -= size;
      if (range.bytes === 0) arena.free.splice(i, 1);
      return offset;
    }
    const offset = arena.top;
    arena.top = offset + size;
    const pages = Math.ceil(arena.top / PAGE_BYTES);
    if (pages > arena.pages) {
      arena.memory.grow(pages - arena.pages);
      arena.pages = pages;
    }
    return offset;
  }

  /** Gives [offset, offset + size) back: merged with the free ranges beside it, or lowering top. */
  function release(arena: Arena, offset: number, size: number): void {
    const free = arena.free;
    let i = 0;
    while (i < free.length && free[i]!.offset < offset) i++;
    const before = free[i - 1];
    const after = free[i];
    let range: Range;
    if (before && before.offset + before.bytes === offset) {
      before.bytes += size;
      range = before;
      i--;
    } else {
      range = { offset, bytes: size };
      free.splice(i, 0, range);
    }
    if (after && range.offset + range.bytes === after.offset) {
      range.bytes += after.bytes;
      free.splice(i + 1, 1);
    }
    if (range.offset + range.bytes === arena.top) {
      arena.top = range.offset;
      free.splice(i, 1);
    }
  }

  function allocBuffer(bytes: number, options: { memory?: number } = {}): DeviceBuffer {
    usable();
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 4 !== 0) {
      throw new Error(`allocBuffer: bytes must be a positive multiple of 4, got ${bytes}`);
    }
    const capacity = maxPages * PAGE_BYTES - weightsStart;
    if (bytes > capacity) {
      throw new Error(`allocBuffer: ${bytes} bytes do not fit one memory, which holds at most ${capacity} (PoolOptions.memoryBytes = ${memoryBytes}, less the scratch)`);
    }
    let arena: Arena | undefined;
    if (options.memory !== undefined) {
      arena = arenas[options.memory];
      if (!arena) throw new Error(`allocBuffer: memory ${options.memory} does not exist (the pool has ${arenas.length})`);
      if (!fits(arena, bytes)) throw new Error(`allocBuffer: ${bytes} bytes do not fit in what is left of memory ${options.memory}`);
    } else {
      arena = arenas.find((a) => fits(a, bytes)) ?? newArena();
    }
    const offset = place(arena, bytes);
    const view = new Float32Array(arena.memory.buffer, offset, bytes / 4);
    viewArenas.set(view.buffer as SharedArrayBuffer, arena);
    const buffer: DeviceBuffer = Object.freeze({ memory: arena.index, bytes, f32: view });
    buffers.set(buffer, { arena, offset, bytes: align(bytes, ALIGN) });
    return buffer;
  }

  function freeBuffer(buffer: DeviceBuffer): void {
    usable();
    const p = buffers.get(buffer);
    if (!p) throw new Error(`freeBuffer: this ${buffer.bytes}-byte buffer is not a live buffer of this compute pool (freed already?)`);
    buffers.delete(buffer);
    release(p.arena, p.offset, p.bytes);
  }

  function attention(
    q: Float32Array, // [rows, heads*head_dim]
    out: Float32Array, // [rows, heads*head_dim]
    shape: AttentionShape,
    sequences: readonly AttentionSequence[],
  ): void {
    usable();
    checkAttention(q, out, shape, sequences);
    // The sequences of each memory, with the byte address of every segment's first key and value row.
    const groups = new Map<Arena, Placed[]>();
    const rowBytes = shape.kvHeads * shape.headDim * 4;
    for (let i = 0; i < sequences.length; i++) {
      const seq = sequences[i]!;
      const arena = arenaOfView(seq.segments[0]!.keys, i, 0);
      const keys: number[] = [];
      const values: number[] = [];
      for (let j = 0; j < seq.segments.length; j++) {
        const seg = seq.segments[j]!;
        const k = arenaOfView(seg.keys, i, j);
        const v = arenaOfView(seg.values, i, j);
        if (k !== arena || v !== arena) {
          const other = k !== arena ? k : v;
          throw new Error(`attention: sequence ${i}: its segments are in memories ${arena.index} and ${other.index}; one sequence's cache must be in one memory`);
        }
        keys.push(seg.keys.byteOffset + seg.row * rowBytes);
        values.push(seg.values.byteOffset + seg.row * rowBytes);
      }
      const list = groups.get(arena);
      if (list) list.push({ seq, keys, values });
      else groups.set(arena, [{ seq, keys, values }]);
    }
    for (const [arena, list] of groups) attend(arena, q, out, shape, list);
  }

  /** The memory a view from allocBuffer lies in (segment j of sequence i, for the error). */
  function arenaOfView(view: Float32Array, i: number, j: number): Arena {
    const arena = viewArenas.get(view.buffer as SharedArrayBuffer);
    if (!arena) throw new Error(`attention: sequence ${i}, segment ${j}: keys and values must be views of buffers from this pool's allocBuffer`);
    return arena;
  }

  /**
   * The attention of the sequences whose cache is in `arena`, their q rows
   * copied into its scratch: in one job, or in as many as the scratch needs
   * (a job takes whole queries; a sequence's queries may be split between two).
   */
  function attend(
    arena: Arena,
    q: Float32Array, // [rows, heads*head_dim]
    out: Float32Array, // [rows, heads*head_dim]
    shape: AttentionShape,
    list: readonly Placed[],
  ): void {
    const qDim = shape.heads * shape.headDim;
    let segments = 0;
    let longest = 0;
    for (const { seq } of list) {
      segments += seq.segments.length;
      longest = Math.max(longest, seq.first + seq.count);
    }
    const scoresStride = align(longest * 4, ALIGN);
    // Every job has room for all the segment tables (16 bytes a segment) and every thread's scores; the rest is for queries.
    const fixed = segments * SEGMENT_BYTES + threads * scoresStride + 4 * ALIGN;
    const perRow = 2 * qDim * 4 + shape.heads * TASK_BYTES;
    const rowsPerJob = Math.floor((scratchBytes - fixed) / perRow);
    if (rowsPerJob < 1) {
      throw new Error(
        `attention: ${segments} segments over up to ${longest} positions leave no room for a query in ` +
          `PoolOptions.scratchBytes = ${scratchBytes} (it needs ${fixed + perRow})`,
      );
    }
    let job: QueryRun[] = [];
    let rows = 0;
    for (const placed of list) {
      for (let from = 0; from < placed.seq.count; ) {
        const count = Math.min(placed.seq.count - from, rowsPerJob - rows);
        job.push({ ...placed, from, count });
        rows += count;
        from += count;
        if (rows === rowsPerJob) {
          attendJob(arena, q, out, shape, job, rows, scoresStride);
          job = [];
          rows = 0;
        }
      }
    }
    if (rows > 0) attendJob(arena, q, out, shape, job, rows, scoresStride);
  }

  /** One attention job over `rows` queries: tables into the scratch, the tasks across the threads, out rows back. */
  function attendJob(
    arena: Arena,
    q: Float32Array, // [rows, heads*head_dim]
    out: Float32Array, // [rows, heads*head_dim]
    shape: AttentionShape,
    runs: readonly QueryRun[],
    rows: number,
    scoresStride: number,
  ): void {
    const { heads, kvHeads, headDim } = shape;
    const qDim = heads * headDim;
    const group = heads / kvHeads;
    let segments = 0;
    for (const { seq } of runs) segments += seq.segments.length;
    const tasks = rows * heads;
    // scratch: q [rows, qDim] | out [rows, qDim] | segment tables | task table | scores [threads, scoresStride bytes]
    const qAt = SCRATCH_OFFSET;
    const outAt = align(qAt + rows * qDim * 4, ALIGN);
    const segAt = align(outAt + rows * qDim * 4, ALIGN);
    const taskAt = align(segAt + segments * SEGMENT_BYTES, ALIGN);
    const scoresAt = align(taskAt + tasks * TASK_BYTES, ALIGN);
    const ints = arena.scratchInts;
    const at = (byte: number): number => (byte - SCRATCH_OFFSET) / 4;
    let row = 0;
    let seg = segAt;
    let task = taskAt;
    for (const { seq, keys, values, from, count } of runs) {
      arena.scratch.set(q.subarray((seq.row + from) * qDim, (seq.row + from + count) * qDim), at(qAt) + row * qDim);
      const table = seg;
      for (const [j, s] of seq.segments.entries()) {
        const e = at(seg);
        ints[e] = keys[j]!;
        ints[e + 1] = values[j]!;
        ints[e + 2] = s.start;
        ints[e + 3] = s.count;
        seg += SEGMENT_BYTES;
      }
      // The last query first: it attends to the most positions, and the longest tasks should be claimed first.
      for (let i = count - 1; i >= 0; i--) {
        // KV heads take turns (heads 0, group, 2 group, ..., 1, group + 1, ...): the threads start on
        // different KV heads and fetch their keys and values from memory side by side.
        for (let t = 0; t < heads; t++) {
          const kv = t % kvHeads;
          const h = kv * group + Math.floor(t / kvHeads);
          const e = at(task);
          const head = ((row + i) * qDim + h * headDim) * 4;
          ints[e] = qAt + head;
          ints[e + 1] = outAt + head;
          ints[e + 2] = seq.first + from + i + 1;
          ints[e + 3] = table;
          ints[e + 4] = seq.segments.length;
          ints[e + 5] = kv * headDim * 4;
          task += TASK_BYTES;
        }
      }
      row += count;
    }
    // Tasks per chunk: about ATTEND_CHUNK_MACS of work (a task over few positions is too short to claim
    // alone), yet at least 2 chunks per thread, and few enough chunks for CLAIM's count.
    const longest = scoresStride / 4;
    const byWork = Math.ceil(ATTEND_CHUNK_MACS / (2 * longest * headDim));
    const chunk = Math.max(Math.ceil(tasks / MAX_CHUNKS), Math.min(byWork, Math.ceil(tasks / (threads * 2))));
    Atomics.store(ctl, Slot.MEMORY, arena.index);
    ctl[Slot.TABLE] = taskAt;
    ctl[Slot.N] = tasks;
    ctl[Slot.CHUNK] = chunk;
    ctl[Slot.CHUNKS] = Math.ceil(tasks / chunk);
    ctl[Slot.BIG_CHUNKS] = ctl[Slot.CHUNKS];
    ctl[Slot.SMALL_CHUNK] = chunk;
    ctl[Slot.HEAD_DIM] = headDim;
    ctl[Slot.KV_STRIDE] = kvHeads * headDim * 4;
    ctl[Slot.SCALE] = f32Bits(shape.scale);
    ctl[Slot.SCORES] = scoresAt;
    ctl[Slot.SCORES_STRIDE] = scoresStride;
    execute(Op.ATTEND);
    row = 0;
    for (const { seq, from, count } of runs) {
      const o = at(outAt) + row * qDim;
      out.set(arena.scratch.subarray(o, o + count * qDim), (seq.row + from) * qDim);
      row += count;
    }
  }

  function silu(x: Float32Array, out: Float32Array): void {
    usable();
    if (out.length !== x.length) throw new Error(`silu: out must have x's ${x.length} floats, got ${out.length}`);
    const arena = arenas[0] ?? newArena();
    const piece = scratchBytes / 4;
    for (let i = 0; i < x.length; i += piece) {
      const n = Math.min(piece, x.length - i);
      arena.scratch.set(x.subarray(i, i + n));
      arena.kernels.silu(SCRATCH_OFFSET, SCRATCH_OFFSET, n);
      out.set(arena.scratch.subarray(0, n), i);
    }
  }

  function placed(w: DeviceWeight): Placement {
    const p = placements.get(w);
    if (!p) throw new Error(`this ${w.format} [${w.rows}, ${w.cols}] weight was not allocated by this compute pool`);
    return p;
  }

  function matmul(x: Float32Array, m: number, w: DeviceWeight, out: Float32Array, bias?: Float32Array): void {
    usable();
    const { arena, layout, offset, scaleOffset, shift } = placed(w);
    const { rows: n, cols: k, format } = layout;
    if (!Number.isSafeInteger(m) || m < 1) throw new Error(`matmul: m must be a positive integer, got ${m}`);
    if (x.length !== m * k) throw new Error(`matmul: x must be [${m}, ${k}] (${m * k} floats), got ${x.length}`);
    if (out.length !== m * n) throw new Error(`matmul: out must be [${m}, ${n}] (${m * n} floats), got ${out.length}`);
    if (bias && bias.length !== n) throw new Error(`matmul: bias must be [${n}], got ${bias.length}`);

    const q8 = format === "q8";
    const limit = rowsPerCall(layout, bias !== undefined);
    let mc = m;
    if (m > limit) {
      // as few calls as the limit allows, of about equal size, in whole blocks of 4 x rows
      const step = limit >= 4 ? limit - (limit % 4) : limit;
      mc = Math.min(step, align(Math.ceil(m / Math.ceil(m / step)), 4));
    }
    // scratch: x f32 [mc, k] | x int16 [mc, k] and scales [mc] (q8) | bias [n] | out [mc, n]
    const xAt = SCRATCH_OFFSET;
    const xqAt = align(xAt + mc * k * 4, ALIGN);
    const xsAt = align(xqAt + (q8 ? mc * k * 2 : 0), ALIGN);
    const biasAt = align(xsAt + (q8 ? mc * 4 : 0), ALIGN);
    const outAt = align(biasAt + (bias ? n * 4 : 0), ALIGN);
    const scratch = arena.scratch;
    if (bias) scratch.set(bias, (biasAt - SCRATCH_OFFSET) / 4);

    Atomics.store(ctl, Slot.MEMORY, arena.index);
    ctl[Slot.W] = offset;
    ctl[Slot.S] = scaleOffset;
    ctl[Slot.K] = k;
    ctl[Slot.BS] = layout.blockSize;
    ctl[Slot.FLUSH] = layout.flush;
    ctl[Slot.N] = n;
    ctl[Slot.X] = q8 ? xqAt : xAt;
    ctl[Slot.XS] = xsAt;
    ctl[Slot.OUT] = outAt;
    ctl[Slot.LDO] = n;
    ctl[Slot.BIAS] = bias ? biasAt : 0;
    ctl[Slot.SHIFT] = shift;
    for (let m0 = 0; m0 < m; m0 += mc) {
      const rows = Math.min(mc, m - m0);
      scratch.set(x.subarray(m0 * k, (m0 + rows) * k), (xAt - SCRATCH_OFFSET) / 4);
      if (q8) arena.kernels.quantize_rows(xAt, rows, k, xqAt, xsAt);
      const { chunk, big, small, chunks } = chunkPlan(n, k, rows, format);
      ctl[Slot.M] = rows;
      ctl[Slot.CHUNK] = chunk;
      ctl[Slot.CHUNKS] = chunks;
      ctl[Slot.BIG_CHUNKS] = big;
      ctl[Slot.SMALL_CHUNK] = small;
      execute(rows === 1 ? GEMV[format] : GEMM[format]);
      const o = (outAt - SCRATCH_OFFSET) / 4;
      out.set(scratch.subarray(o, o + rows * n), m0 * n);
    }
  }

  /**
   * How W's rows are split into claimed chunks (see chunkRange): chunks of
   * `chunk` rows (a multiple of 8, the most W rows a kernel takes at a time,
   * and at least 4 chunks per thread when W allows), then, for the last
   * `threads` chunks' worth of rows, chunks a quarter that size, so the
   * threads finish within a small chunk of each other; few enough chunks for
   * CLAIM's 16-bit count.
   */
  function chunkPlan(n: number, k: number, m: number, format: WeightFormat): { chunk: number; big: number; small: number; chunks: number } {
    const byWork = m === 1 ? GEMV_CHUNK_BYTES / (k * elementBytes(format)) : GEMM_CHUNK_MACS / (k * m);
    const byBalance = n / (threads * 4);
    const chunk = align(Math.max(1, Math.ceil(Math.min(byWork, byBalance)), Math.ceil(n / (MAX_CHUNKS / 2))), 8);
    const small = align(Math.ceil(chunk / 4), 8);
    const big = Math.max(0, Math.floor((n - threads * chunk) / chunk));
    return { chunk, big, small, chunks: big + Math.ceil((n - big * chunk) / small) };
  }

  function readRow(w: DeviceWeight, row: number, out: Float32Array): void {
    usable();
    const { host, layout, shift } = placed(w);
    if (!Number.isSafeInteger(row) || row < 0 || row >= layout.rows) {
      throw new Error(`readRow: row must be in [0, ${layout.rows}), got ${row}`);
    }
    if (out.length !== layout.cols) throw new Error(`readRow: out must be [${layout.cols}], got ${out.length}`);
    widenRow(host, row, out);
    if (shift !== 0) {
      const unscale = 2 ** -shift;
      for (let k = 0; k < out.length; k++) out[k]! *= unscale;
    }
  }

  function quantizeWeight(
    rows: number,
    cols: number,
    blockSize: number,
    getRow: (row: number, out: Float32Array) => void,
  ): DeviceWeight {
    return allocate({ format: "q8", rows, cols, blockSize }, ({ data, scales }, arena) => {
      // getRow writes into the scratch, where the kernel reads it: no copy
      const row = arena.scratch.subarray(0, cols);
      const scaleBytes = (cols / blockSize) * 4;
      for (let r = 0; r < rows; r++) {
        getRow(r, row);
        arena.kernels.quantize_q8_row(SCRATCH_OFFSET, cols, blockSize, data.byteOffset + r * cols, scales!.byteOffset + r * scaleBytes);
      }
    });
  }

  async function dispose(): Promise<void> {
    if (disposed) return;
    disposed = true;
    Atomics.store(ctl, Slot.OP, Op.EXIT);
    Atomics.store(ctl, Slot.GEN, (generation + 1) | 0);
    Atomics.notify(ctl, Slot.GEN);
    await Promise.all(workers.map((worker) => worker.terminate()));
    arenas.length = 0;
    instances.length = 0;
  }

  return {
    threads,
    kernels: variant,
    get memories() {
      return arenas.length;
    },
    allocWeight: (spec, fill) => allocate(spec, (dst) => fill(dst)),
    quantizeWeight,
    matmul,
    readRow,
    allocBuffer,
    freeBuffer,
    attention,
    silu,
    dispose,
  };
}

/** The bits of x rounded to f32, as an int32 (how a float travels in the control block). */
function f32Bits(x: number): number {
  F32_BITS[0] = x;
  return I32_BITS[0]!;
}
const F32_BITS = new Float32Array(1);
const I32_BITS = new Int32Array(F32_BITS.buffer);

/** Starts `count` workers (threads 1 .. count) and waits until each is in its job loop; any failure to start rejects. */
async function startWorkers(count: number, url: URL, init: Omit<WorkerInit, "thread">): Promise<Worker[]> {
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const workerData: WorkerInit = { ...init, thread: i + 1 };
    const worker = new Worker(url, { workerData, name: `oar-compute-${i + 1}` });
    workers.push(worker);
    ready.push(
      new Promise<void>((resolve, reject) => {
        worker.once("message", () => resolve());
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`compute worker ${i + 1} exited with code ${code} while starting`)));
      }),
    );
  }
  try {
    await Promise.all(ready);
  } catch (error) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw error instanceof Error ? error : new Error(String(error));
  }
  for (const worker of workers) {
    worker.removeAllListeners();
    // A pool the program forgets to dispose must not keep the process alive.
    worker.unref();
  }
  return workers;
}
