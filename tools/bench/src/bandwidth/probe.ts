/**
 * The machine's memory read bandwidth, as the roofline's numerator: one
 * worker thread per core reads its own slice of one shared buffer, far
 * larger than the caches, with 128-bit WebAssembly loads (./read-module.ts).
 * A trial is timed from the first thread's start to the last one's end; the
 * probe keeps the best of its trials (the hardware's ceiling; slower trials
 * are other work on the machine) and reports the median beside it.
 */
import * as os from "node:os";
import * as v8 from "node:v8";
import { Worker } from "node:worker_threads";
import { STEP_BYTES, readModuleBytes } from "./read-module.js";
import { PAGE_BYTES, wasm } from "./wasm.js";
import type { ProbeRun, ProbeTiming, ProbeWorkerData } from "./worker.js";

export interface BandwidthOptions {
  /** Buffer size in bytes (default 512 MiB). */
  readonly bytes?: number;
  /** Reading threads (default: os.availableParallelism()). */
  readonly threads?: number;
  /** Trials (default 7). */
  readonly trials?: number;
  /** Passes over the buffer per trial (default 4). */
  readonly passes?: number;
}

export interface Bandwidth {
  /** Best trial, bytes per second. */
  readonly bestBytesPerS: number;
  readonly medianBytesPerS: number;
  readonly threads: number;
  readonly bufferBytes: number;
  readonly trials: number;
}

export async function measureBandwidth(options: BandwidthOptions = {}): Promise<Bandwidth> {
  const threads = options.threads ?? os.availableParallelism();
  const trials = options.trials ?? 7;
  const passes = options.passes ?? 4;
  const slice = Math.floor((options.bytes ?? 512 << 20) / threads / STEP_BYTES) * STEP_BYTES;
  if (slice <= 0) throw new Error(`bandwidth probe: ${options.bytes} bytes cannot be split into ${threads} slices of ${STEP_BYTES}-byte steps`);
  const pages = Math.ceil((slice * threads) / PAGE_BYTES);
  const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
  // Touch every page first, so no trial pays for page faults.
  new Uint8Array(memory.buffer).fill(1);
  // Liftoff, V8's baseline WebAssembly compiler, would run each trial's one long call to the end (no
  // on-stack replacement) at about half the optimized loop's rate; the kernels being compared run optimized.
  v8.setFlagsFromString("--no-liftoff");
  const module = new wasm.Module(readModuleBytes());
  const workers = Array.from(
    { length: threads },
    (_, i) =>
      new Worker(new URL("./worker.js", import.meta.url), {
        workerData: { module, memory, start: i * slice, end: (i + 1) * slice } satisfies ProbeWorkerData,
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
      rates.push((slice * threads * passes * 1000) / ms);
    }
    const sorted = [...rates].sort((a, b) => a - b);
    return {
      bestBytesPerS: sorted[sorted.length - 1]!,
      medianBytesPerS: sorted[Math.floor(sorted.length / 2)]!,
      threads,
      bufferBytes: slice * threads,
      trials,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
