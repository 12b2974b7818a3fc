/**
 * @oar/make-adapter: deterministic random LoRA and prefix-tuning adapters
 * for a checkpoint, in PEFT's and PaddleNLP's formats (the same values in
 * both), for tests and examples. The formats themselves are written by
 * @oar/modeling's adapter writers.
 */
export {
  ADAPTER_DTYPES,
  FORMATS,
  LORA_TARGETS,
  makeLora,
  makePrefix,
  type AdapterFormatName,
  type LoraTarget,
  type MakeLoraOptions,
  type MakePrefixOptions,
} from "./make.js";
