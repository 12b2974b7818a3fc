/**
 * The loop every pool worker runs: wait for the next job on the control
 * block, do its part, report. It never returns to the event loop until the
 * pool exits it, so new memories arrive through receiveMessageOnPort inside
 * `attach`, not through message events.
 */
import { Op, Slot, recordError } from "./control.js";
import type { KernelExports } from "./wasm.js";

export interface ServeOptions {
  ctl: Int32Array; // the control block
  /** GEN when the pool created this worker: the first job is the one after it. */
  generation: number;
  /** How long to poll GEN before sleeping on it. */
  spinMicros: number;
  /** Instantiates the kernels on the memory just posted to this worker. */
  attach: () => KernelExports;
  /** Does this thread's part of a compute job. */
  run: (ctl: Int32Array, instances: readonly KernelExports[]) => void;
  /** Names this worker in error messages. */
  name: string;
}

export function serve(options: ServeOptions): void {
  const { ctl, spinMicros, attach, run, name } = options;
  const instances: KernelExports[] = [];
  let seen = options.generation;
  for (;;) {
    seen = nextJob(ctl, seen, spinMicros);
    const op = ctl[Slot.OP];
    if (op === Op.EXIT) return;
    try {
      if (op === Op.ATTACH) instances[ctl[Slot.MEMORY]!] = attach();
      else run(ctl, instances);
    } catch (error) {
      recordError(ctl, `${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    if (Atomics.sub(ctl, Slot.PENDING, 1) === 1 && Atomics.load(ctl, Slot.CALLER_SLEEPS) !== 0) {
      Atomics.notify(ctl, Slot.PENDING);
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
