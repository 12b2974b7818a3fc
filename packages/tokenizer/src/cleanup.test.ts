import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cleanUpTokenization, safeCleanUpCut } from "./cleanup.js";
import { random } from "./fixtures.js";

describe("cleanUpTokenization", () => {
  it("removes the space before punctuation and contractions, as transformers does", () => {
    assert.equal(cleanUpTokenization("Hello , world ! Is it ?"), "Hello, world! Is it?");
    assert.equal(cleanUpTokenization("I do n't know , I 'm sure we 've seen they 're here ."), "I don't know, I'm sure we've seen they're here.");
    assert.equal(cleanUpTokenization("it ' s"), "it's");
    assert.equal(cleanUpTokenization("a.b"), "a.b");
  });
});


describe("safeCleanUpCut", () => {
  it("cuts before a space that starts no pattern", () => {
    assert.equal(safeCleanUpCut("Hello world"), 5);
    assert.equal(safeCleanUpCut("Hello world again"), 11);
  });

  it("does not cut where the next character could complete a pattern", () => {
    assert.equal(safeCleanUpCut("Hello ."), 0);
    assert.equal(safeCleanUpCut("I do n"), 0, "\" n\" may become \" n't\"");
    assert.equal(safeCleanUpCut("I do it n"), 4);
    assert.equal(safeCleanUpCut("it '"), 0);
    assert.equal(safeCleanUpCut("x ' b"), 0, "the space after a \" '\" may close \" ' \"");
    assert.equal(safeCleanUpCut("Hello "), 0, "the character after the last space is unknown");
  });

  it("splits the cleanup exactly, whatever follows (random texts over the patterns' alphabet)", () => {
    const next = random(7);
    const alphabet = [" ", " ", " ", ".", "?", "!", ",", "'", "n", "t", "m", "s", "v", "e", "r", "a"];
    const pick = (length: number) =>
      Array.from({ length }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
    for (let trial = 0; trial < 5000; trial++) {
      const text = pick(1 + Math.floor(next() * 12));
      const cut = safeCleanUpCut(text);
      if (cut === 0) continue;
      for (let k = 0; k < 4; k++) {
        const rest = pick(Math.floor(next() * 6));
        assert.equal(
          cleanUpTokenization(text.slice(0, cut)) + cleanUpTokenization(text.slice(cut) + rest),
          cleanUpTokenization(text + rest),
          `text ${JSON.stringify(text)}, cut ${cut}, rest ${JSON.stringify(rest)}`,
        );
      }
    }
  });
});
