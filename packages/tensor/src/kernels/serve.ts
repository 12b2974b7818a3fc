/**
 * The loop every pool worker runs: wait for the next job on the control
 * block, take part in it, wait again. It never returns to the event loop until
 * the pool exits it, so new memories arrive through receiveMessageOnPort inside
 * `attach`, not through message events.
 */
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { Op, Slot, recordError } from "./control.js";
import { type KernelExports, type WasmMemory, type WasmModule, instantiate } from "./wasm.js";

/** What the pool posts to every worker when it makes a memory. */
export interface AttachMessage {
  memory: WasmMemory;
}

/** An `attach` that instantiates `module` on each memory posted to `port`, in the order the pool made them. */
export function attachPosted(port: MessagePort, module: WasmModule): (instances: KernelExports[]) => void {
  return (instances) => {
    for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
      instances.push(instantiate(module, (received.message as AttachMessage).memory));
    }
  };
}

export interface ServeOptions {
  ctl: Int32Array; // the control block
  /** GEN when the pool created this worker. */
  generation: number;
  /** How long to poll GEN before sleeping on it. */
  spinMicros: number;
  /** Instantiates the kernels on the memories posted to this worker since the last call, appending to `instances`. */
  attach: (instances: KernelExports[]) => void;
  /** Takes part in compute job `generation` (see runChunks). */
  run: (ctl: Int32Array, instances: readonly KernelExports[], generation: number) => void;
  /** Names this worker in error messages. */
  name: string;
}

export function serve(options: ServeOptions): void {
  const { ctl, spinMicros, attach, run, name } = options;
  const instances: KernelExports[] = [];
  let seen = options.generation;
  for (;;) {
    seen = nextJob(ctl, seen, spinMicros);
    if (ctl[Slot.OP] === Op.EXIT) return;
    try {
      if (instances.length <= ctl[Slot.MEMORY]!) attach(instances);
      run(ctl, instances, seen);
    } catch (error) {
      recordError(ctl, `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }
}

/**
 * Waits for GEN to move past `seen` and returns it. Polls first: the matmuls
 * of a decode step follow each other within microseconds, and waking a
 * sleeping thread costs tens of them.
 */
function nextJob(ctl: Int32Array, seen: number, spinMicros: number): number {
  const deadline = performance.now() + spinMicros / 1000;
  for (let i = 1; ; i++) {
    const gen = Atomics.load(ctl, Slot.GEN);
    if (gen !== seen) return gen;
    if ((i & 1023) === 0 && performance.now() > deadline) break;
  }
  // The caller notifies GEN only when SLEEPERS > 0; it bumps GEN before reading
  // SLEEPERS and this thread counts itself before reading GEN, so one of the
  // two always sees the other.
  Atomics.add(ctl, Slot.SLEEPERS, 1);
  let gen = Atomics.load(ctl, Slot.GEN);
  while (gen === seen) {
    Atomics.wait(ctl, Slot.GEN, seen);
    gen = Atomics.load(ctl, Slot.GEN);
  }
  Atomics.sub(ctl, Slot.SLEEPERS, 1);
  return gen;
}
