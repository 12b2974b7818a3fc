/** Entry point of a compute pool worker (see pool.ts and serve.ts). */
import { parentPort, threadId, workerData } from "node:worker_threads";
import { runChunks } from "./control.js";
import { attachPosted, serve } from "./serve.js";
import type { WasmModule } from "./wasm.js";

/** What the pool passes to each worker. */
export interface WorkerInit {
  module: WasmModule;
  control: SharedArrayBuffer;
  generation: number;
  spinMicros: number;
  /** This worker's thread number: 1, 2, ... (the calling thread is 0). */
  thread: number;
}

const init = workerData as WorkerInit;
if (!parentPort) throw new Error("kernels/worker.js runs only as a worker thread of a compute pool");
const name = `compute worker (thread ${threadId})`;

parentPort.postMessage("ready");
serve({
  ctl: new Int32Array(init.control),
  generation: init.generation,
  spinMicros: init.spinMicros,
  attach: attachPosted(parentPort, init.module),
  run: (ctl, instances, generation) => runChunks(ctl, instances, generation, name, init.thread),
  name,
});
