import { test } from "node:test";
import assert from "node:assert/strict";
import { createStoppingCriteria } from "./stopping.js";

test("any eos id stops, before the length limit", () => {
  const stop = createStoppingCriteria({ maxNewTokens: 3, eosTokenIds: [151645, 151643] });
  assert.equal(stop.check(151645, 1), "eos");
  assert.equal(stop.check(151643, 3), "eos");
  assert.equal(stop.check(7, 1), null);
  assert.equal(stop.check(7, 2), null);
  assert.equal(stop.check(7, 3), "length");
});

test("ignoreEos generates exactly max new tokens", () => {
  const stop = createStoppingCriteria({ maxNewTokens: 2, eosTokenIds: [2], ignoreEos: true });
  assert.equal(stop.check(2, 1), null);
  assert.equal(stop.check(2, 2), "length");
});

test("without eos ids only the length stops", () => {
  const stop = createStoppingCriteria({ maxNewTokens: 1 });
  assert.equal(stop.check(0, 1), "length");
});

test("max new tokens and eos ids are validated", () => {
  for (const bad of [0, -3, 2.5, NaN]) {
    assert.throws(() => createStoppingCriteria({ maxNewTokens: bad }), {
      message: `max_length (max new tokens) must be an integer >= 1, got ${bad}`,
    });
  }
  assert.throws(() => createStoppingCriteria({ maxNewTokens: 4, eosTokenIds: [-1] }), {
    message: "eos token ids must be integers >= 0, got -1",
  });
});
