/** Entry point of a compute pool worker (see pool.ts and serve.ts). */
import { parentPort, receiveMessageOnPort, threadId, workerData } from "node:worker_threads";
import { runChunks } from "./control.js";
import { serve } from "./serve.js";
import { type WasmMemory, type WasmModule, instantiate } from "./wasm.js";

/** What the pool passes to each worker. */
export interface WorkerInit {
  module: WasmModule;
  control: SharedArrayBuffer;
  generation: number;
  spinMicros: number;
}

/** What the pool posts to a worker before an ATTACH job. */
export interface AttachMessage {
  memory: WasmMemory;
}

const init = workerData as WorkerInit;
if (!parentPort) throw new Error("kernels/worker.js runs only as a worker thread of a compute pool");
const port = parentPort;

/** The memory the pool posted just before the ATTACH job now running. */
function postedMemory(): WasmMemory {
  const received = receiveMessageOnPort(port);
  if (!received) throw new Error("ATTACH job without a memory posted to the worker");
  return (received.message as AttachMessage).memory;
}

port.postMessage("ready");
serve({
  ctl: new Int32Array(init.control),
  generation: init.generation,
  spinMicros: init.spinMicros,
  attach: () => instantiate(init.module, postedMemory()),
  run: runChunks,
  name: `compute worker (thread ${threadId})`,
});
