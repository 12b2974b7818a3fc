/**
 * Checkpoint formats: open a PyTorch (`pytorch_model.bin`) or PaddleNLP
 * (`model_state.pdparams`, PaddleNLP-named safetensors) checkpoint, say which
 * format and layout it is in, and generate from it in dynamic mode.
 *
 *   node examples/dist/formats.js [checkpoint-dir]
 *
 * Without a directory it uses the PaddleNLP `.pdparams` copy of a micro
 * checkpoint in testing/checkpoint-formats (written by numpy in paddle.save's
 * layout) and checks that it generates what its safetensors original does.
 */
import { generate } from "@oar/generation";
import { formatGolden } from "@oar/make-tiny-model";
import { loadEagerModel, openModelWeights, readDecoderConfig } from "@oar/modeling";

const golden = process.argv[2] === undefined ? formatGolden("qwen2-pdparams") : null;
const dir = process.argv[2] ?? golden!.dir;

const config = readDecoderConfig(dir);
const weights = openModelWeights(dir, config);
console.log(`${dir}: ${weights.format} weights in ${weights.naming}'s layout${weights.index === null ? "" : `, sharded (${weights.index})`}`);
weights.source.close();

/** Greedy tokens after a prompt of token ids (the micro checkpoint has no tokenizer). */
async function greedyTokens(modelDir: string): Promise<readonly number[]> {
  const model = await loadEagerModel(modelDir);
  try {
    const result = await generate(model, { tokens: [3, 141, 59, 26, 5, 35, 89, 79] }, { decodeStrategy: "greedy_search", maxNewTokens: 8, eosTokenIds: [] });
    return result.tokens;
  } finally {
    await model.dispose();
  }
}

const tokens = await greedyTokens(dir);
console.log(`greedy tokens: ${tokens.join(" ")}`);
if (golden !== null) {
  const original = await greedyTokens(golden.original);
  console.log(`the safetensors original gives ${original.join(" ") === tokens.join(" ") ? "the same tokens" : `other tokens: ${original.join(" ")}`}`);
}
