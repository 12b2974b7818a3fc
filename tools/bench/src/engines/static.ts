/** Static mode: @oar/runtime's loadStaticModel on an exported inference directory, as `predictor --mode static` runs it. */
import type { CausalLM } from "@oar/generation";
import { loadStaticModel } from "@oar/runtime";

/** Loads with a dense cache of `batchSize` rows of `positions` positions, on the CPU, with the runtime's session options. */
export function loadStatic(dir: string, options: { readonly batchSize: number; readonly positions: number }): Promise<CausalLM> {
  return loadStaticModel(dir, { device: "cpu", batchSize: options.batchSize, positions: options.positions });
}
