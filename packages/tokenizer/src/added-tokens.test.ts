import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createAddedTokenSplitter, parseAddedTokensDecoder, type AddedToken } from "./added-tokens.js";

const token = (content: string, id: number, flags: Partial<AddedToken> = {}): AddedToken => ({
  content,
  id,
  special: true,
  lstrip: false,
  rstrip: false,
  singleWord: false,
  ...flags,
});

/** A split written compactly: tokens as <id>. */
function show(parts: ReturnType<ReturnType<typeof createAddedTokenSplitter>["split"]>): string[] {
  return parts.map((p) => (typeof p === "string" ? p : `<${p.id}>`));
}

describe("splitting text on added tokens", () => {
  it("cuts every occurrence out and keeps the text between", () => {
    const s = createAddedTokenSplitter([token("</s>", 2), token("<s>", 1)]);
    assert.deepEqual(show(s.split("<s>Hello</s> world</s>")), ["<1>", "Hello", "<2>", " world", "<2>"]);
    assert.deepEqual(show(s.split("no tokens")), ["no tokens"]);
    assert.deepEqual(s.split(""), []);
  });

  it("prefers the longest token at the leftmost place", () => {
    const s = createAddedTokenSplitter([token("extra_id_1", 1), token("extra_id_100", 100), token("[CLS]", 5)]);
    assert.deepEqual(show(s.split("[CLS] This is a extra_id_100")), ["<5>", " This is a ", "<100>"]);
    assert.deepEqual(show(s.split("extra_id_10")), ["<1>", "0"]);
  });

  it("eats whitespace for lstrip and rstrip, as Python's strip does", () => {
    const s = createAddedTokenSplitter([token("<mask>", 4, { lstrip: true }), token("<sep>", 5, { rstrip: true })]);
    assert.deepEqual(show(s.split("a \t<mask> b")), ["a", "<4>", " b"]);
    assert.deepEqual(show(s.split("a <sep> \n b")), ["a ", "<5>", "b"]);
    assert.deepEqual(show(s.split("a <sep>\ufeffb")), ["a ", "<5>", "\ufeffb"], "U+FEFF is not whitespace to Python");
  });

  it("matches a single_word token only as a word", () => {
    const s = createAddedTokenSplitter([token("ok", 7, { singleWord: true })]);
    assert.deepEqual(show(s.split("say ok now")), ["say ", "<7>", " now"]);
    // Inside a word it stays text, joined to the text before it (transformers then encodes the stretches apart).
    assert.deepEqual(show(s.split("bookkeeper")), ["book", "keeper"]);
  });

  it("handles characters outside the BMP", () => {
    const s = createAddedTokenSplitter([token("🦀", 9)]);
    assert.deepEqual(show(s.split("a🦀b😀")), ["a", "<9>", "b😀"]);
  });
});

describe("parseAddedTokensDecoder", () => {
  it("reads ids and flags", () => {
    const tokens = parseAddedTokensDecoder(
      { added_tokens_decoder: { "151643": { content: "<|endoftext|>", special: true, lstrip: false, rstrip: false, single_word: false, normalized: false } } },
      "c.json",
    );
    assert.deepEqual(tokens, [token("<|endoftext|>", 151643)]);
    assert.deepEqual(parseAddedTokensDecoder({}, "c.json"), []);
  });

  it("rejects what it cannot read, naming the entry", () => {
    assert.throws(() => parseAddedTokensDecoder({ added_tokens_decoder: [] }, "c.json"), /c\.json: added_tokens_decoder must map ids to tokens/);
    assert.throws(() => parseAddedTokensDecoder({ added_tokens_decoder: { x: { content: "a" } } }, "c.json"), /c\.json: added_tokens_decoder key "x" is not a token id/);
    assert.throws(() => parseAddedTokensDecoder({ added_tokens_decoder: { "3": { content: "" } } }, "c.json"), /added_tokens_decoder\["3"\] must have a non-empty string "content"/);
    assert.throws(() => parseAddedTokensDecoder({ added_tokens_decoder: { "3": { content: "a", special: "yes" } } }, "c.json"), /added_tokens_decoder\["3"\]\.special must be true or false/);
  });
});
