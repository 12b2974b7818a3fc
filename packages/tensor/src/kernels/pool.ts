/**
 * The compute pool: weights in shared WebAssembly memories, the kernels of
 * kernels.wat instantiated on each memory by every thread, and matmuls split
 * by rows across workers and the calling thread.
 *
 * Memory layout of each memory:
 *   [0, 64)                          never used, so a pointer of 0 means "none"
 *   [64, 64 + scratchBytes)          scratch of one call: x, its q8 form, bias, out
 *   [.., top)                        weights, bump-allocated, 64-byte aligned
 * A weight lives entirely in one memory; a new memory starts when the current
 * one cannot take the next weight, so a model over 4 GiB (V8's limit for one
 * wasm32 memory) still loads. Memories only grow, and a shared memory's old
 * buffers stay valid at their old length, so a view made after the growth that
 * covers it never needs re-creating; workers only touch memory from wasm.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { MAX_CHUNKS, Op, Slot, claimWord, createControl, runChunks, takeError } from "./control.js";
import { normalizeF16 } from "./f16.js";
import { type WeightFormat, type WeightLayout, type WeightSpec, elementBytes, weightLayout } from "./format.js";
import { type HostWeight, widenRow } from "./reference.js";
import {
  type KernelExports,
  MAX_PAGES,
  PAGE_BYTES,
  type WasmMemory,
  compileKernels,
  instantiate,
  sharedMemory,
} from "./wasm.js";
import type { AttachMessage } from "./serve.js";
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

export interface ComputePool {
  readonly threads: number;
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

/** One shared memory and what lives in it. */
interface Arena {
  readonly index: number;
  readonly memory: WasmMemory;
  readonly kernels: KernelExports; // instantiated on this memory for the calling thread
  readonly scratch: Float32Array; // [scratchBytes / 4] at SCRATCH_OFFSET
  readonly maxBytes: number;
  pages: number;
  top: number; // first free byte
}

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

  const module = await compileKernels();
  const control = createControl();
  const ctl = new Int32Array(control);
  const workers = await startWorkers(threads - 1, workerUrl, { module, control, generation: 0, spinMicros });

  const arenas: Arena[] = [];
  const instances: KernelExports[] = []; // arenas[i].kernels, as runChunks wants them
  const placements = new WeakMap<DeviceWeight, Placement>();
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
    runChunks(ctl, instances, generation, "calling thread");
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
      maxBytes: maxPages * PAGE_BYTES,
      pages,
      top: weightsStart,
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
    const arena = last && align(last.top, ALIGN) + bytes <= last.maxBytes ? last : newArena();
    const offset = align(arena.top, ALIGN);
    arena.top = offset + bytes;
    const pages = Math.ceil(arena.top / PAGE_BYTES);
    if (pages > arena.pages) {
      arena.memory.grow(pages - arena.pages);
      arena.pages = pages;
    }
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
      const chunk = chunkRows(n, k, rows, format);
      ctl[Slot.M] = rows;
      ctl[Slot.CHUNK] = chunk;
      ctl[Slot.CHUNKS] = Math.ceil(n / chunk);
      execute(rows === 1 ? GEMV[format] : GEMM[format]);
      const o = (outAt - SCRATCH_OFFSET) / 4;
      out.set(scratch.subarray(o, o + rows * n), m0 * n);
    }
  }

  /**
   * Rows of W per claimed chunk: a multiple of 4, at least 4 chunks per thread
   * when W allows, and few enough chunks for CLAIM's 16-bit count.
   */
  function chunkRows(n: number, k: number, m: number, format: WeightFormat): number {
    const byWork = m === 1 ? GEMV_CHUNK_BYTES / (k * elementBytes(format)) : GEMM_CHUNK_MACS / (k * m);
    const byBalance = n / (threads * 4);
    const rows = Math.max(Math.ceil(Math.min(byWork, byBalance)), Math.ceil(n / MAX_CHUNKS));
    return align(Math.max(1, rows), 4);
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
    get memories() {
      return arenas.length;
    },
    allocWeight: (spec, fill) => allocate(spec, (dst) => fill(dst)),
    quantizeWeight,
    matmul,
    readRow,
    dispose,
  };
}

/** Starts `count` workers and waits until each is in its job loop; any failure to start rejects. */
async function startWorkers(count: number, url: URL, init: WorkerInit): Promise<Worker[]> {
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const worker = new Worker(url, { workerData: init, name: `oar-compute-${i + 1}` });
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
