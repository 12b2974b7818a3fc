import type { CausalLM } from "./causal-lm.js";
import { generateBatch, type GenerateOptions, type GenerationRequest, type GenerationResult } from "./scheduler.js";

/**
 * Completes one prompt: the scheduler with one slot. Its events and result
 * carry request index 0, and it samples from stream `request.rngStream ?? 0`
 * of options.seed, so it matches request 0 of a batch.
 */
export async function generate(
  model: CausalLM,
  request: GenerationRequest,
  options: GenerateOptions,
): Promise<GenerationResult> {
  const run = await generateBatch(model, [request], { ...options, batchSize: 1 });
  return run.results[0]!;
}
