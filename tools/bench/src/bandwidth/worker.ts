/** A bandwidth-probe thread: reads its slice of the shared buffer when told, and says when it started and ended. */
import { parentPort, workerData } from "node:worker_threads";
import { type WasmMemory, type WasmModule, instantiateRead } from "./wasm.js";

export interface ProbeWorkerData {
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  /** The slice's first region, [start, end); the module reads the others after it. */
  readonly start: number;
  readonly end: number;
}

export interface ProbeRun {
  readonly passes: number;
}

export interface ProbeTiming {
  /** performance.timeOrigin + performance.now(): comparable across threads. */
  readonly startMs: number;
  readonly endMs: number;
  readonly sink: number;
}

const data = workerData as ProbeWorkerData;
const { read } = instantiateRead(data.module, data.memory);
parentPort!.on("message", (run: ProbeRun) => {
  const startMs = performance.timeOrigin + performance.now();
  const sink = read(data.start, data.end, run.passes);
  const endMs = performance.timeOrigin + performance.now();
  parentPort!.postMessage({ startMs, endMs, sink } satisfies ProbeTiming);
});
