/**
 * @oar/predictor: the `predictor` program's parts, usable as a library:
 * flags, the data and output files, prompt encoding, the model in either
 * mode, progress, printing, the benchmark report, and `runPredictor`, which
 * puts them together.
 */
export {
  DECODE_STRATEGIES,
  DEVICES,
  DTYPES,
  GRAPH_FLAGS,
  MODES,
  PREDICTOR_DEFAULTS,
  QUANT_TYPES,
  checkPredictorFlags,
  parsePredictorFlags,
  predictorCli,
  type ChatTemplateFlag,
  type DecodeStrategy,
  type Device,
  type DtypeFlag,
  type GraphFlag,
  type Mode,
  type PredictorFlags,
  type QuantType,
} from "./flags.js";
export { DEFAULT_PROMPT, defaultPrompts, parseDataFile, promptMessages, promptPlace, readDataFile, type Prompt, type PromptSource } from "./data-file.js";
export { encodePrompts, resolveTemplate, truncationWarnings, type EncodedPrompt, type ResolvedTemplate } from "./prompts.js";
export { OutputWriter, formatRecord, readResumePoint, type OutputRecord, type ResumePoint } from "./output-file.js";
export { createProgress, formatDuration, progressStyle, type Progress, type ProgressOptions, type ProgressSink, type ProgressStyle } from "./progress.js";
export { createStreamPrinter, formatResult, resultHeader, type StreamPrinter } from "./printer.js";
export {
  INFERENCE_MANIFEST,
  checkModelDir,
  checkStaticFlags,
  dynamicStorage,
  loadDynamicModel,
  loadFlagAdapters,
  loadStaticPredictorModel,
  readExportedSettings,
  type ExportedSettings,
  type LoadNeeds,
  type PredictorModel,
} from "./model.js";
export { benchmarkFigures, formatBenchmark, type BenchmarkFigures } from "./benchmark.js";
export { decodingOptions, runPredictor, type PredictorIo, type PredictorSummary } from "./predict.js";
