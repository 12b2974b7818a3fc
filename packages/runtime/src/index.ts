/**
 * @oar/runtime: static mode. An inference directory written by
 * export-model, run on onnxruntime-node as a CausalLM of @oar/generation,
 * with the runtime's own KV cache (dense, or block attention's pool of
 * blocks). It reads everything about the model from oar_inference.json.
 */
export { loadStaticModel, type StaticModelOptions } from "./load.js";
export { isInferenceDirectory, MANIFEST_FILE } from "./manifest.js";
export type { StaticModel } from "./static-model.js";
export type { Device } from "./ort.js";
