/** Dynamic mode: @oar/modeling's eager model on the preset checkpoint. */
import type { CausalLM } from "@oar/generation";
import { type WeightStorage, loadEagerModel } from "@oar/modeling";
import { assertNever } from "@oar/tensor";
import type { EagerStorage } from "../configs.js";

export function weightStorage(storage: EagerStorage): WeightStorage {
  switch (storage) {
    case "f32":
    case "bf16":
      return { format: storage };
    case "q8":
      return { format: "q8", blockSize: "channel" }; // as predictor --quant_type weight_only_int8
    default:
      return assertNever(storage);
  }
}

/** Loads the eager model with room for `positions` positions per sequence. */
export function loadDynamic(modelDir: string, storage: EagerStorage, positions: number): Promise<CausalLM> {
  return loadEagerModel(modelDir, { storage: weightStorage(storage), maxPositions: positions });
}
