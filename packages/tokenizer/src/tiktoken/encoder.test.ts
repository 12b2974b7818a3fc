/**
 * The tiktoken reader against the real `tiktoken` library: a rank file in
 * GLM-4's layout trained by goldens/make_goldens.py, GLM-4's pattern, and
 * the ids and text of a varied corpus (whitespace of every kind, U+0085 and
 * U+FEFF where JavaScript's \s and Rust's disagree, contractions in capitals).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readGolden, readGoldenBytes } from "../goldens.js";
import { createTiktokenEncoder, GLM4_PATTERN } from "./encoder.js";
import { looksLikeRankFile, parseRankFile } from "./rank-file.js";

const golden = readGolden<{ size: number; cases: { text: string; ids: number[]; decoded: string }[] }>("tiktoken.json");
const bytes = readGoldenBytes("tiktoken/tokenizer.model");

describe("a tiktoken rank file with GLM-4's pattern", () => {
  const table = parseRankFile(bytes, "tokenizer.model");
  const encoder = createTiktokenEncoder(table, GLM4_PATTERN);

  it("reads every rank", () => {
    assert.equal(table.tokens.length, golden.size);
    assert.ok(looksLikeRankFile(bytes));
    assert.ok(!looksLikeRankFile(readGoldenBytes("sentencepiece/llama-bpe.model")));
  });

  it("encodes the corpus to tiktoken's ids", () => {
    for (const c of golden.cases) assert.deepEqual(encoder.encode(c.text), c.ids, JSON.stringify(c.text));
  });

  it("decodes them back", () => {
    for (const c of golden.cases) assert.equal(encoder.decode(c.ids), c.decoded);
  });

  it("rejects broken rank files with the line at fault", () => {
    const lines = Buffer.from(bytes).toString("latin1").split("\n");
    const broken = (edit: (l: string[]) => void) => {
      const copy = [...lines];
      edit(copy);
      return Buffer.from(copy.join("\n"), "latin1");
    };
    assert.throws(() => parseRankFile(broken((l) => (l[3] = "not base64! 3")), "t.model"), /t\.model: line 4: expected "<base64 token> <rank>"/);
    assert.throws(() => parseRankFile(broken((l) => (l[3] = l[4] as string)), "t.model"), /t\.model: line 5: rank \d+ is given twice/);
    assert.throws(() => parseRankFile(broken((l) => l.splice(0, 1)), "t.model"), /rank \d+ is not below|byte 0x.. is not a token/);
  });
});
