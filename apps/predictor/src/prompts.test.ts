import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadTokenizer, type OarTokenizer } from "@oar/tokenizer";
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
