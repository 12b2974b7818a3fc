import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { createTokenizer, loadTokenizer, type OarTokenizer } from "@oar/tokenizer";
import { parseDataFile } from "./data-file.js";
import { encodePrompts, resolveTemplate, truncationWarnings } from "./prompts.js";

let tokenizer: OarTokenizer;
before(async () => {
  tokenizer = await loadTokenizer(cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true }));
});

const prompts = parseDataFile(['{"src": "Hello there"}', '{"src": ["你好", "你好！有什么可以帮你？", "讲个故事"]}'].join("\n"), "data.jsonl");
const file = (text: string) => ({ kind: "file", path: "t.jinja", text }) as const;

describe("encodePrompts", () => {
  it("renders the tokenizer's chat template and adds no special tokens again", () => {
    const template = resolveTemplate({ kind: "tokenizer" }, tokenizer);
    assert.equal(template?.name, "the tokenizer's chat template");
    const [a, b] = encodePrompts(tokenizer, prompts, { template, srcLength: 1024 });
    assert.deepEqual(a!.tokens, tokenizer.encodeChat([{ role: "user", content: "Hello there" }]));
    assert.deepEqual(
      b!.tokens,
      tokenizer.encodeChat([
        { role: "user", content: "你好" },
        { role: "assistant", content: "你好！有什么可以帮你？" },
        { role: "user", content: "讲个故事" },
      ]),
    );
    assert.equal(tokenizer.decode(a!.tokens, { skipSpecialTokens: false }).match(/<\|im_start\|>/g)?.length, 3);
  });

  it("encodes raw prompts with --chat_template none, and refuses a conversation then", () => {
    const [a] = encodePrompts(tokenizer, prompts.slice(0, 1), { template: resolveTemplate({ kind: "none" }, tokenizer), srcLength: 1024 });
    assert.deepEqual(a!.tokens, tokenizer.encode("Hello there"));
    assert.throws(
      () => encodePrompts(tokenizer, prompts, { template: null, srcLength: 1024 }),
      /data file line 2: "src" is a conversation, which needs a chat template/,
    );
  });

  it("renders a template file, and names it and the line when rendering fails", () => {
    const [a] = encodePrompts(tokenizer, prompts.slice(0, 1), { template: resolveTemplate(file("Q: {{ messages[-1]['content'] }}\nA:"), tokenizer), srcLength: 1024 });
    assert.equal(tokenizer.decode(a!.tokens), "Q: Hello there\nA:");
    assert.throws(
      () => encodePrompts(tokenizer, prompts, { template: resolveTemplate(file("{{ raise_exception('no conversations') }}"), tokenizer), srcLength: 1024 }),
      /data file line 1: --chat_template t\.jinja: rendering the chat template failed: no conversations$/,
    );
  });

  it("keeps the last --src_length tokens and says so", () => {
    const full = encodePrompts(tokenizer, prompts, { template: resolveTemplate({ kind: "tokenizer" }, tokenizer), srcLength: 1024 });
    const cut = encodePrompts(tokenizer, prompts, { template: resolveTemplate({ kind: "tokenizer" }, tokenizer), srcLength: 12 });
    assert.deepEqual(cut[0]!.tokens, full[0]!.tokens.slice(-12));
    assert.deepEqual(truncationWarnings(cut, 12), [
      `data file line 1: the prompt has ${full[0]!.tokens.length} tokens; --src_length 12 keeps its last 12`,
      `data file line 2: the prompt has ${full[1]!.tokens.length} tokens; --src_length 12 keeps its last 12`,
    ]);
    assert.deepEqual(truncationWarnings(full, 1024), []);
  });
});

describe("encodePrompts with a family's own chat format", () => {
  // A ChatGLM3-layout tokenizer: a sentencepiece model from @oar/tokenizer's goldens and its nine specials.
  const model = readFileSync(new URL("../../../packages/tokenizer/goldens/sentencepiece/llama-bpe.model", import.meta.url));
  const glm = createTokenizer({
    tokenizerModel: model,
    tokenizerConfig: { tokenizer_class: "ChatGLMTokenizer" },
    generationConfig: { eos_token_id: [2, 1206, 1208] },
  });

  it("uses the builder, names it, and keeps [gMASK] sop when it cuts", () => {
    const template = resolveTemplate({ kind: "tokenizer" }, glm);
    assert.equal(template?.name, "the tokenizer's chatglm3 chat format");
    const [a, b] = encodePrompts(glm, prompts, { template, srcLength: 1024 });
    assert.deepEqual(a!.tokens, glm.encodeChat([{ role: "user", content: "Hello there" }]));
    assert.deepEqual(b!.tokens.slice(0, 3), [1201, 1203, 1206]);
    const [cut] = encodePrompts(glm, prompts.slice(1), { template, srcLength: 8 });
    assert.deepEqual(cut!.tokens, [...b!.tokens.slice(0, 2), ...b!.tokens.slice(-6)]);
    assert.equal(cut!.originalLength, b!.tokens.length);
  });
});
