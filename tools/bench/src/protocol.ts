/** What the bench's main process and a measuring child (./child.ts) exchange. */
import type { Configuration } from "./configs.js";
import type { Workload } from "./workload.js";

/** The child prints its Sample as JSON on one line starting with this. */
export const SAMPLE_MARKER = "OAR_BENCH_SAMPLE ";

export interface ChildSpec {
  readonly configuration: Configuration;
  /** The checkpoint, inference directory or GGUF file it runs. */
  readonly path: string;
  readonly workload: Workload;
  /** Positions per sequence the engine must hold. */
  readonly positions: number;
}
