import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDataFile } from "./data-file.js";
import { createStreamPrinter, formatResult, resultHeader } from "./printer.js";

const prompts = parseDataFile(['{"src": "a", "tgt": "ta"}', '{"src": ["q", "r", "s"]}', '{"src": "c"}'].join("\n"), "data");

describe("printer", () => {
  it("prints PaddleNLP's Source / Target / Output layout, a conversation one turn a line", () => {
    assert.equal(formatResult(prompts[0]!, "out"), "***********Source**********\na\n***********Target**********\nta\n***********Output**********\nout\n");
    assert.match(resultHeader(prompts[1]!), /^\*+Source\*+\nuser: q\nassistant: r\nuser: s\n/);
  });

  it("streams answers in input order, holding those of later prompts until their turn", () => {
    let out = "";
    const p = createStreamPrinter(prompts, (t) => (out += t));
    p.text(1, "B1");
    p.text(0, "A1");
    p.text(2, "C1");
    p.end(2);
    p.text(1, "B2");
    p.text(0, "A2");
    p.end(0);
    p.text(1, "B3");
    p.end(1);
    const expected = [formatResult(prompts[0]!, "A1A2"), formatResult(prompts[1]!, "B1B2B3"), formatResult(prompts[2]!, "C1")].join("");
    assert.equal(out, expected);
  });

  it("streams a resumed run from its first prompt", () => {
    let out = "";
    const rest = prompts.slice(1);
    const p = createStreamPrinter(rest, (t) => (out += t));
    p.text(2, "C");
    p.text(1, "B");
    p.end(1);
    p.end(2);
    assert.equal(out, formatResult(prompts[1]!, "B") + formatResult(prompts[2]!, "C"));
  });
});
