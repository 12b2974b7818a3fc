import assert from "node:assert/strict";
import { mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  llamaStyleTokenizerConfig,
  llamaStyleTokenizerJson,
  QWEN2_INSTRUCT_GENERATION_CONFIG,
  QWEN2_INSTRUCT_TEMPLATE,
  QWEN2_INSTRUCT_TOKENIZER_CONFIG,
  QWEN_TOKENIZER_DIR,
  writeTokenizerDir,
} from "./fixtures.js";
import { readGoldenBytes } from "./goldens.js";
import { loadTokenizer } from "./load.js";
import type { OarTokenizer } from "./tokenizer.js";

let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), "oar-tokenizer-"));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

function writeDir(name: string, files: Record<string, unknown>): Promise<string> {
  return writeTokenizerDir(root, name, files);
}

describe("loadTokenizer on a Qwen2-Instruct directory", () => {
  let qwen: OarTokenizer;

  before(async () => {
    const dir = await writeDir("qwen2-instruct", {
      "tokenizer_config.json": QWEN2_INSTRUCT_TOKENIZER_CONFIG,
      "generation_config.json": QWEN2_INSTRUCT_GENERATION_CONFIG,
    });
    await symlink(join(QWEN_TOKENIZER_DIR, "tokenizer.json"), join(dir, "tokenizer.json"));
    qwen = await loadTokenizer(dir);
  });

  it("stops on both <|im_end|> and <|endoftext|>", () => {
    assert.deepEqual(qwen.eosTokenIds, [151645, 151643]);
    assert.equal(qwen.padTokenId, 151643);
    assert.equal(qwen.bosTokenId, null);
    assert.equal(qwen.chatTemplate, QWEN2_INSTRUCT_TEMPLATE);
  });

  const messages = [{ role: "user", content: "目前全世界的经济都是为一个事情服务的" }];
  const prompt =
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
    "<|im_start|>user\n目前全世界的经济都是为一个事情服务的<|im_end|>\n<|im_start|>assistant\n";

  it("renders one user message with the default system prompt", () => {
    assert.equal(qwen.applyChatTemplate(messages), prompt);
  });

  it("encodes the chat to the pinned ids, adding no special token of its own", () => {
    const ids = qwen.encodeChat(messages);
    assert.deepEqual(ids, [
      151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 100004, 105546, 9370, 99346,
      100132, 17714, 46944, 99916, 47874, 9370, 151645, 198, 151644, 77091, 198,
    ]);
    assert.equal(qwen.decode(ids, { skipSpecialTokens: false }), prompt);
  });
});

describe("loadTokenizer on a Llama-style directory", () => {
  it("reads generation_config.json when present and does without it", async () => {
    const withGeneration = await writeDir("llama-generation", {
      "tokenizer.json": llamaStyleTokenizerJson(),
      "tokenizer_config.json": llamaStyleTokenizerConfig(),
      "generation_config.json": { bos_token_id: 1, eos_token_id: [2, 0] },
    });
    assert.deepEqual((await loadTokenizer(withGeneration)).eosTokenIds, [2, 0]);
    const without = await writeDir("llama-plain", {
      "tokenizer.json": llamaStyleTokenizerJson(),
      "tokenizer_config.json": llamaStyleTokenizerConfig(),
    });
    const tokenizer = await loadTokenizer(without);
    assert.deepEqual(tokenizer.eosTokenIds, [2]);
    assert.deepEqual(tokenizer.encode("Hello world"), [1, 279, 284]);
  });
});

describe("loadTokenizer errors name the file and what is wrong, on one line", () => {
  const good = { "tokenizer.json": llamaStyleTokenizerJson(), "tokenizer_config.json": llamaStyleTokenizerConfig() };
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["no tokenizer.json", { "tokenizer_config.json": llamaStyleTokenizerConfig() }, "tokenizer.json", /: file not found; a tokenizer directory needs tokenizer\.json, or tokenizer\.model, or vocab\.json with merges\.txt, and tokenizer_config\.json$/],
    ["no tokenizer_config.json", { "tokenizer.json": llamaStyleTokenizerJson() }, "tokenizer_config.json", /: file not found;/],
    ["a tokenizer.json that is not JSON", { ...good, "tokenizer.json": "{ oops" }, "tokenizer.json", /: not valid JSON: /],
    ["a tokenizer_config.json that is not JSON", { ...good, "tokenizer_config.json": "" }, "tokenizer_config.json", /: not valid JSON: /],
    ["a generation_config.json that is not JSON", { ...good, "generation_config.json": "[1," }, "generation_config.json", /: not valid JSON: /],
    [
      "a bad eos_token_id",
      { ...good, "generation_config.json": { eos_token_id: "</s>" } },
      "generation_config.json",
      /: eos_token_id must be a token id or a list of token ids; found "<\/s>"$/,
    ],
    [
      "a bad pad_token",
      { ...good, "tokenizer_config.json": { ...llamaStyleTokenizerConfig(), pad_token: 0 } },
      "tokenizer_config.json",
      /: pad_token must be a string, null, or an object with a string "content"; found 0$/,
    ],
    [
      "an eos_token missing from tokenizer.json",
      { ...good, "tokenizer_config.json": { ...llamaStyleTokenizerConfig(), eos_token: "<eos>" } },
      "tokenizer_config.json",
      /: eos_token "<eos>" is not a token of .*tokenizer\.json$/,
    ],
    [
      "a tokenizer.model that is not a model",
      { "tokenizer.model": new Uint8Array([1, 2, 3]), "tokenizer_config.json": { tokenizer_class: "LlamaTokenizer" } },
      "tokenizer.model",
      /: not a sentencepiece model \(its protobuf does not decode: /,
    ],
    [
      "a tokenizer.model of a class Oar cannot read without tokenizer.json",
      { "tokenizer.model": readGoldenBytes("sentencepiece/llama-bpe.model"), "tokenizer_config.json": { tokenizer_class: "T5Tokenizer" } },
      "tokenizer_config.json",
      /: tokenizer_class "T5Tokenizer" cannot be read from a sentencepiece tokenizer\.model without a tokenizer\.json \(supported: LlamaTokenizer, .*ChatGLMTokenizer\)$/,
    ],
    [
      "a tokenizer.model without tokenizer_config.json",
      { "tokenizer.model": readGoldenBytes("sentencepiece/llama-bpe.model") },
      "tokenizer_config.json",
      /: file not found;/,
    ],
    [
      "vocab.json without merges.txt",
      { "vocab.json": { a: 0 } },
      "tokenizer.json",
      /: file not found; a tokenizer directory needs tokenizer\.json, or tokenizer\.model, or vocab\.json with merges\.txt/,
    ],
    [
      "GLM-4's rank file without its [gMASK] token",
      { "tokenizer.model": readGoldenBytes("tiktoken/tokenizer.model"), "tokenizer_config.json": { tokenizer_class: "ChatGLM4Tokenizer" } },
      "tokenizer_config.json",
      /: GLM-4's tokenizer needs \[gMASK\] in added_tokens_decoder$/,
    ],
    [
      "a Baichuan user_token_id outside the vocabulary",
      {
        "tokenizer.model": readGoldenBytes("sentencepiece/baichuan-bpe.model"),
        "tokenizer_config.json": { tokenizer_class: "BaichuanTokenizer" },
        "generation_config.json": { user_token_id: 99999, assistant_token_id: 4 },
      },
      "generation_config.json",
      /: user_token_id 99999 is outside the vocabulary \(1200 tokens\)$/,
    ],
  ];
  cases.forEach(([what, files, file, message], i) => {
    it(`reports ${what}`, async () => {
      const dir = await writeDir(`bad-${i}`, files);
      await assert.rejects(loadTokenizer(dir), (error: Error) => {
        assert.ok(error.message.startsWith(join(dir, file)), error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  });

  it("reports a directory that does not exist", async () => {
    await assert.rejects(loadTokenizer(join(root, "nowhere")), /nowhere\/tokenizer\.json: file not found/);
  });
});
