/**
 * Dynamic mode: load a Hugging Face checkpoint and chat with it, streaming
 * tokens as they arrive.
 *
 *   node examples/dist/generate.js [checkpoint-dir] ["your question"]
 *
 * Without a directory it makes a tiny random Qwen2-Instruct checkpoint (its
 * answers are noise, but every step is the real one).
 */
import { cachedTinyModel } from "@oar/make-tiny-model";
import { generate } from "@oar/generation";
import { loadEagerModel } from "@oar/modeling";
import { loadTokenizer } from "@oar/tokenizer";

const dir = process.argv[2] ?? cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
const question = process.argv[3] ?? "Give me three facts about rivers.";

const tokenizer = await loadTokenizer(dir);
const model = await loadEagerModel(dir, { storage: { format: "f32" } });
try {
  // The chat template adds <|im_start|>... around the question; no special tokens are added twice.
  const prompt = tokenizer.encodeChat([{ role: "user", content: question }]);
  const result = await generate(model, { tokens: prompt }, {
    decodeStrategy: "greedy_search",
    maxNewTokens: 32,
    eosTokenIds: tokenizer.eosTokenIds,
    createTextStream: () => tokenizer.streamDecoder({ skipSpecialTokens: true }),
    onStream: (e) => process.stdout.write(e.text),
  });
  process.stdout.write("\n");
  console.log(`${result.tokens.length} tokens, finished by ${result.finishReason}`);
} finally {
  await model.dispose();
}
