import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseGenerationSettings, parseTokenizerSettings } from "./config.js";

describe("parseTokenizerSettings", () => {
  it("reads special tokens written as strings, AddedToken objects and null", () => {
    const settings = parseTokenizerSettings(
      {
        bos_token: { __type: "AddedToken", content: "<s>", lstrip: false, normalized: false },
        eos_token: "</s>",
        pad_token: null,
        additional_special_tokens: ["<|im_start|>", { content: "<|im_end|>", special: true }],
      },
      "tokenizer_config.json",
    );
    assert.equal(settings.bosToken, "<s>");
    assert.equal(settings.eosToken, "</s>");
    assert.equal(settings.padToken, null);
    assert.equal(settings.unkToken, null);
    assert.deepEqual(settings.additionalSpecialTokens, ["<|im_start|>", "<|im_end|>"]);
  });

  it("defaults: no add_bos/add_eos override, no cleanup, no templates", () => {
    const settings = parseTokenizerSettings({}, "tokenizer_config.json");
    assert.equal(settings.addBosToken, null);
    assert.equal(settings.addEosToken, null);
    assert.equal(settings.cleanUpTokenizationSpaces, false);
    assert.deepEqual(settings.chatTemplates, {});
  });

  it("reads add_bos_token, add_eos_token and clean_up_tokenization_spaces", () => {
    const settings = parseTokenizerSettings(
      { add_bos_token: true, add_eos_token: false, clean_up_tokenization_spaces: true },
      "tokenizer_config.json",
    );
    assert.equal(settings.addBosToken, true);
    assert.equal(settings.addEosToken, false);
    assert.equal(settings.cleanUpTokenizationSpaces, true);
  });

  it("names a plain-string chat_template 'default'", () => {
    const settings = parseTokenizerSettings({ chat_template: "{{ x }}" }, "tokenizer_config.json");
    assert.deepEqual(settings.chatTemplates, { default: "{{ x }}" });
  });

  it("reads a list of named chat templates", () => {
    const settings = parseTokenizerSettings(
      {
        chat_template: [
          { name: "default", template: "A" },
          { name: "tool_use", template: "B" },
        ],
      },
      "tokenizer_config.json",
    );
    assert.deepEqual(settings.chatTemplates, { default: "A", tool_use: "B" });
  });

  const invalid: Array<[string, unknown, RegExp]> = [
    ["a non-object file", [1, 2], /^cfg\.json: expected a JSON object; found \[1,2\]$/],
    ["a numeric eos_token", { eos_token: 2 }, /^cfg\.json: eos_token must be a string, null, or an object/],
    ["an AddedToken without content", { bos_token: { id: 1 } }, /^cfg\.json: bos_token must be/],
    ["a string add_bos_token", { add_bos_token: "yes" }, /^cfg\.json: add_bos_token must be true or false; found "yes"$/],
    ["a non-list additional_special_tokens", { additional_special_tokens: "<a>" }, /additional_special_tokens must be a list/],
    ["a bad additional special token", { additional_special_tokens: ["<a>", 3] }, /additional_special_tokens\[1\] must be/],
    ["a numeric chat_template", { chat_template: 7 }, /^cfg\.json: chat_template must be a string or a list/],
    ["a template entry without a name", { chat_template: [{ template: "x" }] }, /chat_template\[0\] must be an object/],
    [
      "two templates with one name",
      { chat_template: [{ name: "a", template: "x" }, { name: "a", template: "y" }] },
      /chat_template names "a" twice/,
    ],
  ];
  for (const [what, json, message] of invalid) {
    it(`rejects ${what} with a one-line message naming the file`, () => {
      assert.throws(() => parseTokenizerSettings(json, "cfg.json"), (error: Error) => {
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
    });
  }
});

describe("parseGenerationSettings", () => {
  it("reads eos_token_id as a number or a list", () => {
    assert.deepEqual(parseGenerationSettings({ eos_token_id: 2 }, "g.json").eosTokenIds, [2]);
    assert.deepEqual(
      parseGenerationSettings({ eos_token_id: [151645, 151643] }, "g.json").eosTokenIds,
      [151645, 151643],
    );
    assert.deepEqual(parseGenerationSettings({ eos_token_id: null }, "g.json").eosTokenIds, []);
    assert.deepEqual(parseGenerationSettings({}, "g.json"), {
      eosTokenIds: [],
      padTokenId: null,
      userTokenId: null,
      assistantTokenId: null,
    });
  });

  it("reads pad_token_id, and Baichuan's user_token_id and assistant_token_id", () => {
    assert.equal(parseGenerationSettings({ pad_token_id: 151643 }, "g.json").padTokenId, 151643);
    const baichuan = parseGenerationSettings({ user_token_id: 195, assistant_token_id: 196 }, "g.json");
    assert.deepEqual([baichuan.userTokenId, baichuan.assistantTokenId], [195, 196]);
    assert.throws(() => parseGenerationSettings({ user_token_id: "195" }, "g.json"), /g\.json: user_token_id must be a token id; found "195"/);
  });

  it("rejects ids that are not whole non-negative numbers", () => {
    assert.throws(
      () => parseGenerationSettings({ eos_token_id: [2, "3"] }, "g.json"),
      /^Error: g\.json: eos_token_id must be a token id or a list of token ids; found \[2,"3"\]$/,
    );
    assert.throws(() => parseGenerationSettings({ eos_token_id: -1 }, "g.json"), /eos_token_id must be/);
    assert.throws(() => parseGenerationSettings({ pad_token_id: 1.5 }, "g.json"), /g\.json: pad_token_id must be a token id/);
    assert.throws(() => parseGenerationSettings("x", "g.json"), /g\.json: expected a JSON object/);
  });
});
