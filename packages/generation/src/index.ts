/**
 * @oar/generation: the CausalLM interface and everything written once above
 * it: logits processors, samplers, stopping, streaming, continuous batching.
 */
export * from "./causal-lm.js";
