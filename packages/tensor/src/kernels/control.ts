/**
 * The control block the pool's threads share: one SharedArrayBuffer holding
 * the current job and the counters that hand it out, so that a matmul costs a
 * few atomic operations instead of a message per worker.
 *
 * A job: the calling thread writes the fields, then CLAIM = (generation << 16
 * | chunks), then bumps GEN. Every thread, the caller included, takes chunks
 * of rows by decrementing CLAIM (compareExchange) while its generation is the
 * job's and chunks remain, computes them, and counts them in DONE; the caller
 * returns when DONE reaches the number of chunks.
 *
 * Workers join a job only if they are awake to: one that another process has
 * descheduled, or that wakes late, costs nothing, because the caller takes the
 * chunks it leaves. A claim carries the generation, so a late worker can never
 * take a chunk of a later job with the fields of an earlier one: the fields of
 * job g + 1 are only written once every chunk of job g is done, and then no
 * claim for g can succeed. Dynamic chunks also keep both cores busy when
 * another process takes one of them for a while.
 */
import type { KernelExports } from "./wasm.js";

export const Slot = {
  /** Job generation; idle workers wait on it. */
  GEN: 0,
  /** (generation & 0xffff) << 16 | chunks not yet claimed. */
  CLAIM: 1,
  /** Chunks of the current job computed (or failed); the caller waits on it. */
  DONE: 2,
  /** Workers asleep in Atomics.wait on GEN (the caller notifies only if any). */
  SLEEPERS: 3,
  /** 1 while the caller sleeps on DONE (the thread that finishes the last chunk notifies only then). */
  CALLER_SLEEPS: 4,
  /** 1 once a thread has recorded an error for the current job. */
  FAILED: 5,
  /** Bytes of the error message in the text area. */
  ERROR_LENGTH: 6,
  /** What to do: one of Op. */
  OP: 8,
  /** Which memory (and so which instance) the job uses. */
  MEMORY: 9,
  X: 10,
  XS: 11,
  M: 12,
  W: 13,
  S: 14,
  K: 15,
  BS: 16,
  FLUSH: 17,
  N: 18,
  OUT: 19,
  LDO: 20,
  BIAS: 21,
  /** Rows (attention: tasks) per chunk among the first BIG_CHUNKS chunks (a multiple of 8). */
  CHUNK: 22,
  /** Number of chunks, at most MAX_CHUNKS. */
  CHUNKS: 23,
  /** f16: the power of two the weight's data was scaled by at load (see f16.ts). */
  SHIFT: 24,
  /** attention: the task table (see `attend` in kernels.wat); N counts its tasks. */
  TABLE: 25,
  HEAD_DIM: 26,
  /** attention: bytes between cached positions. */
  KV_STRIDE: 27,
  /** attention: the scale's f32 bits. */
  SCALE: 28,
  /** attention: scores area of thread 0; thread t's is SCORES_STRIDE * t bytes further. */
  SCORES: 29,
  SCORES_STRIDE: 30,
  /** Chunks of CHUNK rows; the chunks after them have SMALL_CHUNK rows (see chunkRange). */
  BIG_CHUNKS: 31,
  SMALL_CHUNK: 32,
} as const;

export const Op = {
  /** Leave the worker loop. */
  EXIT: 1,
  GEMV_F32: 3,
  GEMM_F32: 4,
  GEMV_BF16: 5,
  GEMM_BF16: 6,
  GEMV_F16: 7,
  GEMM_F16: 8,
  GEMV_Q8: 9,
  GEMM_Q8: 10,
  /** Attention tasks; a chunk is CHUNK tasks. */
  ATTEND: 11,
} as const;

/** The low 16 bits of CLAIM count chunks. */
export const MAX_CHUNKS = 0xffff;

const CONTROL_INTS = 36;
const ERROR_BYTES = 2048;

export function createControl(): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_INTS * 4 + ERROR_BYTES);
}

/** The CLAIM word that opens job `generation` with `chunks` chunks. */
export function claimWord(generation: number, chunks: number): number {
  return ((generation & 0xffff) << 16) | chunks;
}

/**
 * Takes one chunk of job `generation`: its index, or -1 when the job has none
 * left or is no longer the current one.
 */
export function claimChunk(ctl: Int32Array, generation: number, chunks: number): number {
  for (;;) {
    const word = Atomics.load(ctl, Slot.CLAIM);
    const left = word & 0xffff;
    if (word >>> 16 !== (generation & 0xffff) || left === 0) return -1;
    if (Atomics.compareExchange(ctl, Slot.CLAIM, word, word - 1) === word) return chunks - left;
  }
}

/** Counts a claimed chunk as finished, waking the caller if this was the last and it sleeps. */
export function finishChunk(ctl: Int32Array, chunks: number): void {
  if (Atomics.add(ctl, Slot.DONE, 1) + 1 === chunks && Atomics.load(ctl, Slot.CALLER_SLEEPS) !== 0) {
    Atomics.notify(ctl, Slot.DONE);
  }
}

function errorText(control: SharedArrayBuffer): Uint8Array {
  return new Uint8Array(control, CONTROL_INTS * 4, ERROR_BYTES);
}

/** Records the first error of a job (later ones would only repeat it). */
export function recordError(ctl: Int32Array, message: string): void {
  if (Atomics.compareExchange(ctl, Slot.FAILED, 0, 1) !== 0) return;
  const { written } = new TextEncoder().encodeInto(message, errorText(ctl.buffer as SharedArrayBuffer));
  Atomics.store(ctl, Slot.ERROR_LENGTH, written);
}

/** The recorded error of the last job, if any, and clears it. */
export function takeError(ctl: Int32Array): string | undefined {
  if (Atomics.load(ctl, Slot.FAILED) === 0) return undefined;
  const length = Atomics.load(ctl, Slot.ERROR_LENGTH);
  // TextDecoder refuses views of shared memory: copy the bytes out first.
  const text = new TextDecoder().decode(errorText(ctl.buffer as SharedArrayBuffer).slice(0, length));
  Atomics.store(ctl, Slot.FAILED, 0);
  return text;
}

/**
 * Rows [n0, n1) of chunk c: `big` chunks of `chunk` rows, then chunks of
 * `small` rows up to n. Threads claim chunks in order, so a job ends on its
 * small chunks, and a thread that finishes early waits for a small chunk of
 * the other's, not a big one.
 */
export function chunkRange(c: number, chunk: number, big: number, small: number, n: number): [number, number] {
  const n0 = c < big ? c * chunk : big * chunk + (c - big) * small;
  return [n0, Math.min(n, n0 + (c < big ? chunk : small))];
}

/**
 * Claims and computes chunks of job `generation` until none are left. A chunk
 * that throws still counts as finished (the caller would wait forever
 * otherwise); the error is recorded and the caller throws it. `thread` (0 for
 * the calling thread, 1.. for the workers) picks this thread's own scratch
 * where a job needs one.
 */
export function runChunks(
  ctl: Int32Array,
  instances: readonly KernelExports[],
  generation: number,
  name: string,
  thread: number,
): void {
  const op = ctl[Slot.OP]!;
  const x = ctl[Slot.X]!, xs = ctl[Slot.XS]!, m = ctl[Slot.M]!, w = ctl[Slot.W]!, s = ctl[Slot.S]!;
  const k = ctl[Slot.K]!, bs = ctl[Slot.BS]!, flush = ctl[Slot.FLUSH]!, n = ctl[Slot.N]!;
  const out = ctl[Slot.OUT]!, ldo = ctl[Slot.LDO]!, bias = ctl[Slot.BIAS]!;
  const chunk = ctl[Slot.CHUNK]!, chunks = ctl[Slot.CHUNKS]!, shift = ctl[Slot.SHIFT]!;
  const big = ctl[Slot.BIG_CHUNKS]!, small = ctl[Slot.SMALL_CHUNK]!;
  const table = ctl[Slot.TABLE]!, headDim = ctl[Slot.HEAD_DIM]!, kvStride = ctl[Slot.KV_STRIDE]!, scale = ctl[Slot.SCALE]!;
  const scores = ctl[Slot.SCORES]! + thread * ctl[Slot.SCORES_STRIDE]!;
  const kernels = instances[ctl[Slot.MEMORY]!];
  for (let c = claimChunk(ctl, generation, chunks); c >= 0; c = claimChunk(ctl, generation, chunks)) {
    try {
      if (!kernels) throw new Error(`no kernels instantiated for memory ${ctl[Slot.MEMORY]}`);
      const [n0, n1] = chunkRange(c, chunk, big, small, n);
      switch (op) {
        case Op.GEMV_F32:
          kernels.gemv_f32(x, w, k, n0, n1, out, bias);
          break;
        case Op.GEMM_F32:
          kernels.gemm_f32(x, m, w, k, n0, n1, out, ldo, bias);
          break;
        case Op.GEMV_BF16:
          kernels.gemv_bf16(x, w, k, n0, n1, out, bias);
          break;
        case Op.GEMM_BF16:
          kernels.gemm_bf16(x, m, w, k, n0, n1, out, ldo, bias);
          break;
        case Op.GEMV_F16:
          kernels.gemv_f16(x, w, k, n0, n1, out, bias, shift);
          break;
        case Op.GEMM_F16:
          kernels.gemm_f16(x, m, w, k, n0, n1, out, ldo, bias, shift);
          break;
        case Op.GEMV_Q8:
          kernels.gemv_q8(x, xs, w, s, k, bs, flush, n0, n1, out, bias);
          break;
        case Op.GEMM_Q8:
          kernels.gemm_q8(x, xs, m, w, s, k, bs, flush, n0, n1, out, ldo, bias);
          break;
        case Op.ATTEND:
          kernels.attend(table, n0, n1, headDim, kvStride, scale, scores);
          break;
        default:
          throw new Error(`unknown compute op ${op}`);
      }
    } catch (error) {
      recordError(ctl, `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      finishChunk(ctl, chunks);
    }
  }
}
