/**
 * @oar/generation: the CausalLM interface and everything written once above
 * it: logits processors, samplers, stopping, streaming, continuous batching.
 * It depends on nothing; the eager model (@oar/modeling) and the onnxruntime
 * runtime (@oar/runtime) implement CausalLM, and the tokenizer's stream
 * decoder satisfies TextStream.
 */

/** The model interface both modes implement. */
export type { CausalLM, ForwardStep, Sequence } from "./causal-lm.js";

/**
 * The online continuous-batching engine: requests submitted at any time, each
 * with its own sampling options, streamed, abortable (what a server runs).
 */
export {
  createEngine,
  QueueFullError,
  type Engine,
  type EngineEvent,
  type EngineOptions,
  type EngineRequest,
  type RequestHandle,
  type SamplingOptions,
} from "./engine.js";

/** Completing prompts: one (`generate`) or a fixed list over the engine (`generateBatch`). */
export { generate } from "./generate.js";
export {
  generateBatch,
  type BatchOptions,
  type BatchRun,
  type GenerateOptions,
  type GenerationRequest,
  type GenerationResult,
  type RequestTiming,
  type SlotActivity,
  type StepRecord,
  type StreamEvent,
} from "./scheduler.js";

/** Throughput figures of a run (`predictor --benchmark`). */
export { measureRun, type RunMetrics } from "./metrics.js";

/** How the next token is chosen, from PaddleNLP-style options. */
export { createLogitsProcessor, createSampler, type DecodeStrategy, type DecodingOptions } from "./decoding.js";

/** Logits processors, each usable alone, and their composition. */
export { composeProcessors, type LogitsProcessor } from "./logits-processor.js";
export { repetitionPenaltyProcessor } from "./repetition-penalty.js";
export { presencePenaltyProcessor } from "./presence-penalty.js";
export { frequencyPenaltyProcessor } from "./frequency-penalty.js";
export { minPProcessor } from "./min-p.js";
export { temperatureProcessor } from "./temperature.js";
export { topKProcessor } from "./top-k.js";
export { topPProcessor } from "./top-p.js";
export { maxLogit, softmaxWeights } from "./softmax.js";

/** Log probabilities of chosen and most likely tokens (OpenAI's logprobs). */
export { tokenLogprobs, type TokenLogprob, type TokenLogprobs } from "./logprobs.js";

/** Samplers and the seeded generator they draw from. */
export { greedy, sampleMultinomial, type Sampler } from "./samplers.js";
export { createRng, type Rng } from "./rng.js";

/** Stopping: EOS ids, max new tokens, stop strings. */
export {
  createStoppingCriteria,
  type FinishReason,
  type StoppingCriteria,
  type StoppingOptions,
} from "./stopping.js";
export { createStopStringMatcher, type StopStringMatcher } from "./stop-strings.js";

/** Incremental detokenisation, as the tokenizer package provides it. */
export type { TextStream } from "./text-stream.js";
