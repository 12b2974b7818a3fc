/**
 * Interoperability of an exported inference directory with transformers.js:
 * the greedy tokens of @oar/runtime (what `predictor --mode static` runs)
 * and of transformers.js' model.generate on the same directory, for the same
 * prompts. The tests compare them; the bench's own transformers.js
 * configurations load directories the same way (./engines/transformers-js.ts).
 */
import { generateBatch } from "@oar/generation";
import { loadStaticModel } from "@oar/runtime";
import { generateTimed, loadTransformersJs } from "./engines/transformers-js.js";

/** Greedy new tokens of each prompt, run together as one batch, EOS ignored, on @oar/runtime. */
export async function staticGreedy(dir: string, prompts: readonly (readonly number[])[], newTokens: number): Promise<number[][]> {
  const positions = Math.max(...prompts.map((p) => p.length)) + newTokens;
  const model = await loadStaticModel(dir, { batchSize: prompts.length, positions });
  try {
    const run = await generateBatch(
      model,
      prompts.map((tokens) => ({ tokens })),
      { batchSize: prompts.length, decodeStrategy: "greedy_search", maxNewTokens: newTokens, ignoreEos: true },
    );
    return run.results.map((r) => [...r.tokens]);
  } finally {
    await model.dispose();
  }
}

/** The same on transformers.js: one model.generate over the prompts, left-padded. */
export async function transformersJsGreedy(dir: string, prompts: readonly (readonly number[])[], newTokens: number): Promise<number[][]> {
  const model = await loadTransformersJs(dir);
  try {
    return (await generateTimed(model, prompts, newTokens)).tokens;
  } finally {
    await model.dispose();
  }
}
