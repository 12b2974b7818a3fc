import { test } from "node:test";
import assert from "node:assert/strict";
import { createStopStringMatcher } from "./stop-strings.js";

test("a stop string inside one piece cuts the text before it", () => {
  const matcher = createStopStringMatcher(["\n\n"]);
  assert.deepEqual(matcher.push("Hello\n\nWorld"), { text: "Hello", stopped: true });
});

test("a stop string split over pieces is held back, then cut", () => {
  const matcher = createStopStringMatcher(["END"]);
  assert.deepEqual(matcher.push("abcE"), { text: "abc", stopped: false });
  assert.deepEqual(matcher.push("N"), { text: "", stopped: false });
  assert.deepEqual(matcher.push("Dx"), { text: "", stopped: true });
});

test("held text that turns out not to stop is released", () => {
  const matcher = createStopStringMatcher(["END"]);
  assert.deepEqual(matcher.push("xE"), { text: "x", stopped: false });
  assert.deepEqual(matcher.push("Nd"), { text: "ENd", stopped: false });
  assert.deepEqual(matcher.push("E"), { text: "", stopped: false });
  assert.equal(matcher.flush(), "E");
  assert.equal(matcher.flush(), "");
});

test("the earliest of several stop strings wins", () => {
  const matcher = createStopStringMatcher(["cd", "b"]);
  assert.deepEqual(matcher.push("abcd"), { text: "a", stopped: true });
});

test("without stop strings text passes through", () => {
  const matcher = createStopStringMatcher([]);
  assert.deepEqual(matcher.push("anything"), { text: "anything", stopped: false });
});

test("empty stop strings are rejected", () => {
  assert.throws(() => createStopStringMatcher(["ok", ""]), { message: "stop strings must not be empty" });
});
