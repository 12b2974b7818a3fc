/**
 * A pool worker that fails on purpose, for pool.test.ts: with OAR_FAULT=throw
 * every chunk it claims throws (as a wasm trap would), with OAR_FAULT=exit the
 * thread ends while it holds a chunk (as a crash would).
 */
import { parentPort, workerData } from "node:worker_threads";
import { Slot, claimChunk, finishChunk } from "./control.js";
import { attachPosted, serve } from "./serve.js";
import type { WorkerInit } from "./worker.js";

const init = workerData as WorkerInit;
if (!parentPort) throw new Error("fault-worker.js runs only as a worker thread");
const fault = process.env["OAR_FAULT"];

parentPort.postMessage("ready");
serve({
  ctl: new Int32Array(init.control),
  generation: init.generation,
  spinMicros: init.spinMicros,
  attach: attachPosted(parentPort, init.module),
  run: (ctl, _instances, generation) => {
    const chunks = ctl[Slot.CHUNKS]!;
    if (claimChunk(ctl, generation, chunks) < 0) return;
    if (fault === "exit") process.exit(3);
    finishChunk(ctl, chunks);
    throw new Error("injected fault");
  },
  name: "fault worker",
});
