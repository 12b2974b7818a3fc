/**
 * @oar/make-tiny-model: deterministic random Hugging Face checkpoints (Qwen2,
 * Llama) for tests and benchmarks, and a converter for llama2.c's legacy
 * model files.
 */
export { type MakeTinyModelOptions, makeTinyModel } from "./make.js";
export {
  type Arch,
  type Preset,
  type WeightDtype,
  type ModelSpec,
  type ParamSpec,
  ARCHS,
  PRESETS,
  WEIGHT_DTYPES,
  QWEN2_VOCAB,
  MICRO_VOCAB,
  modelSpec,
  paramSpecs,
} from "./spec.js";
export { QWEN2_CHAT_TEMPLATE, ENDOFTEXT_ID, IM_END_ID } from "./hf-files.js";
export { convertLlama2c, permuteRotary } from "./llama2c.js";
export { type FormatGolden, cachedTinyModel, formatGolden, sharedFixturesDir, stories260K, type Stories260K } from "./model-cache.js";
