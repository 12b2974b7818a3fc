/**
 * Adapters: LoRA and prefix tuning in PEFT's and PaddleNLP's formats, read
 * into the eager model's hooks (merged weight edits, unmerged LoRA, a
 * prefix KV cache), and written back for tests and tools.
 */
export { AdapterError } from "./errors.js";
export { ADAPTER_FILES, loadAdapters, type AdapterFormat, type AdapterSource, type Adapters } from "./load.js";
export { loraScale, mergeLora, unmergedLora, type LoraLayer } from "./lora.js";
export { linearModules, type LinearModule } from "./modules.js";
export { parseNpy, readNpy, writeNpy, type NpyArray, type NpyDtype } from "./npy.js";
export {
  evaluatePaddleProjection,
  prefixFromPaddle,
  prefixFromPeft,
  prefixFromPreCaches,
  prefixToPaddle,
  prefixToPeft,
  prefixToPreCaches,
  type PaddlePrefixProjection,
  type PrefixShape,
} from "./prefix-layout.js";
export {
  writePaddleLora,
  writePaddlePrefix,
  writePeftLora,
  writePeftPrefix,
  type AdapterDtype,
  type LoraUpdate,
  type LoraWriteOptions,
  type PaddlePrefixEncoder,
  type PaddlePrefixWriteOptions,
  type PeftPrefixWriteOptions,
} from "./write.js";
