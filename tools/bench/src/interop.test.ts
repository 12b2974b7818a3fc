/**
 * An exported directory loads in transformers.js and generates, greedy, the
 * tokens @oar/runtime generates (`predictor --mode static`): f32 and int8,
 * fused and unfused, one prompt and a left-padded batch of two, and through
 * transformers.js' text-generation pipeline with its own tokenizer.
 *
 * The tiny checkpoint runs in the default suite (a few seconds). With
 * OAR_BENCH_INTEROP=qwen2-0.5b (npm run test:interop) the same runs on the
 * 0.5B preset's cached exports (minutes).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { pipeline, env } from "@huggingface/transformers";
import { exportModel } from "@oar/export";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { exportDir, quantTypeOf } from "./artifacts.js";
import type { ExportWeights } from "./configs.js";
import { OAR_DIR_OPTIONS } from "./engines/transformers-js.js";
import { staticGreedy, transformersJsGreedy } from "./interop.js";
import { promptTokens } from "./workload.js";

const GRAPHS: readonly { readonly weights: ExportWeights; readonly fused: boolean }[] = [
  { weights: "f32", fused: true },
  { weights: "f32", fused: false },
  { weights: "int8", fused: true },
  { weights: "int8", fused: false },
];

const NEW_TOKENS = 12;
const PROMPT = promptTokens(9, 3);
const BATCH = [promptTokens(11, 5), promptTokens(6, 7)];

function checkGraph(name: string, dirOf: () => Promise<string>): void {
  it(`${name}: one prompt, the same greedy tokens as @oar/runtime`, async () => {
    const dir = await dirOf();
    const ours = await staticGreedy(dir, [PROMPT], NEW_TOKENS);
    const theirs = await transformersJsGreedy(dir, [PROMPT], NEW_TOKENS);
    assert.equal(ours[0]!.length, NEW_TOKENS);
    assert.deepEqual(theirs, ours);
  });
  it(`${name}: a left-padded batch of two, each the tokens it gets alone`, async () => {
    const dir = await dirOf();
    const alone = await Promise.all(BATCH.map(async (p) => (await staticGreedy(dir, [p], NEW_TOKENS))[0]!));
    assert.deepEqual(await staticGreedy(dir, BATCH, NEW_TOKENS), alone);
    assert.deepEqual(await transformersJsGreedy(dir, BATCH, NEW_TOKENS), alone);
  });
}

describe("transformers.js on an exported tiny Qwen2", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-bench-interop-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const modelDir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
  const made = new Map<string, Promise<string>>();
  const tinyExport = (weights: ExportWeights, fused: boolean): Promise<string> => {
    const name = `${weights}-${fused ? "fused" : "unfused"}`;
    if (!made.has(name)) {
      const outputDir = path.join(root, name);
      made.set(name, exportModel({ modelDir, outputDir, quantType: quantTypeOf(weights), inferenceModel: fused }).then(() => outputDir));
    }
    return made.get(name)!;
  };
  for (const g of GRAPHS) checkGraph(`${g.weights} ${g.fused ? "fused" : "unfused"}`, () => tinyExport(g.weights, g.fused));

  it("the text-generation pipeline, with the directory's tokenizer, continues a text as @oar/runtime does", async () => {
    const dir = await tinyExport("int8", true);
    env.allowRemoteModels = false;
    const generator = await pipeline("text-generation", dir, OAR_DIR_OPTIONS);
    try {
      const text = "The quick brown fox";
      const ids = generator.tokenizer.encode(text);
      const ours = (await staticGreedy(dir, [ids], NEW_TOKENS))[0]!;
      const out = (await generator(text, { max_new_tokens: NEW_TOKENS, do_sample: false, eos_token_id: null, return_full_text: false } as never)) as { generated_text: string }[];
      assert.equal(out[0]!.generated_text, generator.tokenizer.decode(ours, { skip_special_tokens: true }));
    } finally {
      await generator.dispose();
    }
  });
});

const preset = process.env["OAR_BENCH_INTEROP"];
describe(`transformers.js on the ${preset ?? "qwen2-0.5b"} preset's exports`, { skip: preset === undefined ? "set OAR_BENCH_INTEROP=qwen2-0.5b (npm run test:interop)" : false }, () => {
  if (preset !== "qwen2-0.5b" && preset !== "qwen2-1.5b") {
    it("OAR_BENCH_INTEROP names a preset", () => assert.fail(`OAR_BENCH_INTEROP must be qwen2-0.5b or qwen2-1.5b, got ${JSON.stringify(preset)}`));
    return;
  }
  for (const g of GRAPHS) checkGraph(`${g.weights} ${g.fused ? "fused" : "unfused"}`, () => exportDir(preset, g));
});
