import { frequencyPenaltyProcessor } from "./frequency-penalty.js";
import { composeProcessors, type LogitsProcessor } from "./logits-processor.js";
import { minPProcessor } from "./min-p.js";
import { presencePenaltyProcessor } from "./presence-penalty.js";
import { repetitionPenaltyProcessor } from "./repetition-penalty.js";
import { greedy, sampleMultinomial, type Sampler } from "./samplers.js";
import { temperatureProcessor } from "./temperature.js";
import { topKProcessor } from "./top-k.js";
import { topPProcessor } from "./top-p.js";

/** PaddleNLP's `--decode_strategy` values. */
export type DecodeStrategy = "greedy_search" | "sampling";

/**
 * How the next token is chosen. Defaults are the off values (as in
 * PaddleNLP's `generate()`); the predictor passes its own flag defaults
 * (sampling, top_p 0.7, temperature 0.95).
 */
export interface DecodingOptions {
  /** Default "greedy_search". */
  readonly decodeStrategy?: DecodeStrategy;
  /** Sampling only; > 0, default 1. */
  readonly temperature?: number;
  /** Sampling only; 0 (default) turns it off. */
  readonly topK?: number;
  /** Sampling only; in (0, 1], 1 (default) turns it off. */
  readonly topP?: number;
  /** Sampling only; in [0, 1], 0 (default) turns it off. */
  readonly minP?: number;
  /** Both strategies; > 0, 1 (default) turns it off. */
  readonly repetitionPenalty?: number;
  /** Both strategies (OpenAI's, over generated tokens); in [-2, 2], 0 (default) turns it off. */
  readonly presencePenalty?: number;
  /** Both strategies (OpenAI's, over generated tokens); in [-2, 2], 0 (default) turns it off. */
  readonly frequencyPenalty?: number;
  /** Seed of the per-request generators (sampling only); default 0. */
  readonly seed?: number;
}

/**
 * The logits processors `options` ask for, in Hugging Face's (and
 * PaddleNLP's) order: the penalties (repetition, then OpenAI's presence and
 * frequency), then for sampling temperature, top-k, top-p, min-p. Greedy
 * search applies only the penalties, since the others never change the
 * argmax; they are still validated. Processors that would change nothing are
 * left out.
 */
export function createLogitsProcessor(options: DecodingOptions): LogitsProcessor {
  const strategy = decodeStrategy(options);
  const penalty = options.repetitionPenalty ?? 1;
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const minP = options.minP ?? 0;
  const presence = options.presencePenalty ?? 0;
  const frequency = options.frequencyPenalty ?? 0;
  const processors: LogitsProcessor[] = [];
  const add = (processor: LogitsProcessor, active: boolean): void => {
    if (active) processors.push(processor);
  };
  const sampling = strategy === "sampling";
  add(repetitionPenaltyProcessor(penalty), penalty !== 1);
  add(presencePenaltyProcessor(presence), presence !== 0);
  add(frequencyPenaltyProcessor(frequency), frequency !== 0);
  add(temperatureProcessor(temperature), sampling && temperature !== 1);
  add(topKProcessor(topK), sampling && topK !== 0);
  add(topPProcessor(topP), sampling && topP !== 1);
  add(minPProcessor(minP), sampling && minP !== 0);
  return composeProcessors(processors);
}

/** The sampler of `options.decodeStrategy`. */
export function createSampler(options: DecodingOptions): Sampler {
  const strategy = decodeStrategy(options);
  switch (strategy) {
    case "greedy_search":
      return greedy;
    case "sampling":
      return sampleMultinomial;
    default: {
      const unknown: never = strategy;
      throw new Error(`decode_strategy must be "greedy_search" or "sampling", got ${JSON.stringify(unknown)}`);
    }
  }
}

function decodeStrategy(options: DecodingOptions): DecodeStrategy {
  const strategy = options.decodeStrategy ?? "greedy_search";
  if (strategy !== "greedy_search" && strategy !== "sampling") {
    throw new Error(`decode_strategy must be "greedy_search" or "sampling", got ${JSON.stringify(strategy)}`);
  }
  return strategy;
}
