/**
 * The machine's memory read bandwidth, as the roofline's numerator: one
 * worker thread per core reads its own slice of one shared buffer with
 * 128-bit WebAssembly loads (./read-module.ts). A trial is timed from the
 * first thread's start to the last one's end; a probe keeps the best of its
 * trials (the hardware's ceiling; slower trials are other work on the
 * machine) and reports the median beside it.
 *
 * The rate depends on the buffer's size: this CPU's last-level cache is
 * large and shared with other tenants, and keeps part of a stream that does
 * not fit. So the bench probes buffers of several sizes and sets each
 * configuration's roofline from the one nearest its weight bytes per token
 * (./curve.ts).
 */
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import { STEP_BYTES, STREAMS, readModuleBytes } from "./read-module.js";
import { PAGE_BYTES, wasm } from "./wasm.js";
import type { ProbeRun, ProbeTiming, ProbeWorkerData } from "./worker.js";

export interface BandwidthOptions {
  /** Buffer size in bytes. */
  readonly bytes: number;
  /** Reading threads (default: os.availableParallelism()). */
  readonly threads?: number;
  /** Trials (default 7). */
  readonly trials?: number;
  /** Bytes read per trial, rounded up to whole passes over the buffer (default 1 GiB). */
  readonly bytesPerTrial?: number;
}

export interface Bandwidth {
  /** The buffer's size as probed (rounded down to whole steps). */
  readonly bufferBytes: number;
  /** Best trial, bytes per second. */
  readonly bestBytesPerS: number;
  readonly medianBytesPerS: number;
  readonly threads: number;
  readonly trials: number;
}

/**
 * One probe. Run it in a process started with --no-liftoff (./child.ts
 * does): V8's baseline compiler, Liftoff, would run each trial's single long
 * call to the end at about half the optimized loop's rate, as there is no
 * on-stack replacement for WebAssembly.
 */
export async function measureBandwidth(options: BandwidthOptions): Promise<Bandwidth> {
  const threads = options.threads ?? os.availableParallelism();
  const trials = options.trials ?? 7;
  const stream = Math.floor(options.bytes / threads / STREAMS / STEP_BYTES) * STEP_BYTES;
  if (stream <= 0) throw new Error(`bandwidth probe: ${options.bytes} bytes cannot be split into ${threads * STREAMS} regions of ${STEP_BYTES}-byte steps`);
  const slice = stream * STREAMS;
  const total = slice * threads;
  const passes = Math.max(1, Math.ceil((options.bytesPerTrial ?? 2 ** 30) / total));
  const pages = Math.ceil(total / PAGE_BYTES);
  const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
  // Touch every page first, so no trial pays for page faults.
  new Uint8Array(memory.buffer).fill(1);
  const module = new wasm.Module(readModuleBytes(stream));
  const workers = Array.from(
    { length: threads },
    (_, i) =>
      new Worker(new URL("./worker.js", import.meta.url), {
        workerData: { module, memory, start: i * slice, end: i * slice + stream } satisfies ProbeWorkerData,
      }),
  );
  try {
    const run = (w: Worker, message: ProbeRun): Promise<ProbeTiming> =>
      new Promise((resolve, reject) => {
        w.once("message", resolve);
        w.once("error", reject);
        w.postMessage(message);
      });
    // One pass each to compile and warm up.
    await Promise.all(workers.map((w) => run(w, { passes: 1 })));
    const rates: number[] = [];
    for (let t = 0; t < trials; t++) {
      const timings = await Promise.all(workers.map((w) => run(w, { passes })));
      const ms = Math.max(...timings.map((x) => x.endMs)) - Math.min(...timings.map((x) => x.startMs));
      rates.push((total * passes * 1000) / ms);
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return { bufferBytes: total, bestBytesPerS: sorted[sorted.length - 1]!, medianBytesPerS: sorted[Math.floor(sorted.length / 2)]!, threads, trials };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
