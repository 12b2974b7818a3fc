/**
 * A pool worker that fails on purpose, for pool.test.ts: OAR_FAULT=throw makes
 * every compute job throw (as a wasm trap would), OAR_FAULT=exit ends the
 * thread in the middle of a job (as a crash would). ATTACH jobs work, so a
 * pool with these workers starts and loads weights normally.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { serve } from "./serve.js";
import { type WasmMemory, instantiate } from "./wasm.js";
import type { AttachMessage, WorkerInit } from "./worker.js";

const init = workerData as WorkerInit;
if (!parentPort) throw new Error("fault-worker.js runs only as a worker thread");
const port = parentPort;
const fault = process.env["OAR_FAULT"];

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
  run: () => {
    if (fault === "exit") process.exit(3);
    throw new Error("injected fault");
  },
  name: "fault worker",
});
