/**
 * Static mode: export a checkpoint, then serve several prompts from the
 * exported graph on onnxruntime-node with continuous batching (2 slots),
 * printing each answer as it completes.
 *
 *   node examples/dist/static.js [checkpoint-dir]
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { exportModel } from "@oar/export";
import { generateBatch, measureRun } from "@oar/generation";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadStaticModel } from "@oar/runtime";
import { loadTokenizer } from "@oar/tokenizer";

const modelDir = process.argv[2] || cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
const inference = fs.mkdtempSync(path.join(os.tmpdir(), "oar-example-static-"));

try {
  await exportModel({ modelDir, outputDir: inference, inferenceModel: true, overwrite: true });
  // The inference directory carries the tokenizer and everything the runtime needs.
  const tokenizer = await loadTokenizer(inference);
  const model = await loadStaticModel(inference, { batchSize: 2, positions: 256 });
  try {
    const questions = ["What is a river?", "目前全世界的经济都是为一个事情服务的", "Name a prime number.", "Say hello."];
    const run = await generateBatch(
      model,
      questions.map((q) => ({ tokens: tokenizer.encodeChat([{ role: "user", content: q }]) })),
      {
        batchSize: 2,
        decodeStrategy: "greedy_search",
        maxNewTokens: 16,
        eosTokenIds: tokenizer.eosTokenIds,
        createTextStream: () => tokenizer.streamDecoder({ skipSpecialTokens: true }),
        onResult: (r) => console.log(`[${r.request}] ${JSON.stringify(questions[r.request])} -> ${JSON.stringify(r.text)}`),
      },
    );
    const m = measureRun(run);
    console.log(`${run.results.length} prompts, ${m.outputTokens} tokens, ${m.tokensPerS.toFixed(1)} tokens/s`);
  } finally {
    await model.dispose();
  }
} finally {
  fs.rmSync(inference, { recursive: true, force: true });
}
