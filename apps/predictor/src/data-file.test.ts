import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_PROMPT, defaultPrompts, parseDataFile, promptMessages } from "./data-file.js";

describe("parseDataFile", () => {
  it("reads strings, conversations and targets, skipping blank lines", () => {
    const text = '\uFEFF{"src": "hello", "tgt": "hi"}\n\n{"src": ["a", "b", "c"]}\r\n{"src": "x", "tgt": ["t1", "t2"]}\n';
    const prompts = parseDataFile(text, "data.jsonl");
    assert.deepEqual(prompts, [
      { index: 0, line: 1, src: "hello", tgt: "hi" },
      { index: 1, line: 3, src: ["a", "b", "c"], tgt: "" },
      { index: 2, line: 4, src: "x", tgt: ["t1", "t2"] },
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ["broken JSON", '{"src": "a"}\n{"src": "b"\n', /^data\.jsonl line 2: not valid JSON \(/],
    ["no src", '{"src": "a"}\n{"tgt": "b"}', /^data\.jsonl line 2: has no "src" \(the prompt\)$/],
    ["a number src", '{"src": 3}', /^data\.jsonl line 1: "src" must be a string or a list of strings, got number$/],
    ["an empty src", '{"src": ""}', /^data\.jsonl line 1: "src" is empty$/],
    ["an even conversation", '{"src": ["q", "a"]}', /^data\.jsonl line 1: "src" has 2 turns; .* odd number$/],
    ["a non-string turn", '{"src": ["q", 1, "r"]}', /turn 2 is not a string$/],
    ["an array line", '["a"]', /^data\.jsonl line 1: must be a JSON object/],
    ["no prompts", "\n\n", /^data\.jsonl: holds no prompts$/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with the line number`, () => {
      assert.throws(() => parseDataFile(text, "data.jsonl"), (e: Error) => e.name === "UsageError" && message.test(e.message));
    });
  }
});

describe("prompts", () => {
  it("uses PaddleNLP's seed prompt when there is no data file", () => {
    assert.deepEqual(defaultPrompts(), [{ index: 0, line: null, src: DEFAULT_PROMPT, tgt: "" }]);
    assert.ok(DEFAULT_PROMPT.startsWith("目前全世界的经济"));
  });

  it("turns a conversation into alternating user and assistant messages", () => {
    assert.deepEqual(promptMessages(["q1", "a1", "q2"]), [
      { role: "user", content: "q1" },
      { role: "assistant", content: "a1" },
      { role: "user", content: "q2" },
    ]);
    assert.deepEqual(promptMessages("q"), [{ role: "user", content: "q" }]);
  });
});
