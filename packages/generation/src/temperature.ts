import type { LogitsProcessor } from "./logits-processor.js";

/**
 * Divides logits by `temperature`: below 1 sharpens the distribution, above 1
 * flattens it. Only sampling uses it; greedy's argmax does not change.
 *
 * @param temperature a finite number > 0 (PaddleNLP's `--temperature`)
 */
export function temperatureProcessor(temperature: number): LogitsProcessor {
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new Error(`temperature must be a finite number > 0, got ${temperature}`);
  }
  return (logits) => {
    for (let i = 0; i < logits.length; i++) logits[i]! /= temperature;
  };
}
