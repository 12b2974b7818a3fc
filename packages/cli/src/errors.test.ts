import test from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { formatFatal, isBug, requireModelDirectory, UsageError, yargsError } from "./errors.js";

test("a usage error prints as one line with the program's name", () => {
  assert.equal(formatFatal("predictor", new UsageError("--top_p must be in (0, 1],\n  got 1.5"), false), "predictor: --top_p must be in (0, 1], got 1.5\n");
});

test("an error a library throws for a bad file is not a bug: one line", () => {
  assert.equal(formatFatal("export-model", new Error("x/config.json: not valid JSON"), false), "export-model: x/config.json: not valid JSON\n");
});

test("a TypeError, even wrapped as a cause, is a bug: stack and a hint", () => {
  const bug = new Error("generation failed at step 3", { cause: new TypeError("x is undefined") });
  assert.equal(isBug(bug), true);
  const text = formatFatal("predictor", bug, false);
  assert.match(text, /caused by:\nTypeError: x is undefined/);
  assert.match(text, /looks like a bug in Oar/);
});

test("OAR_DEBUG prints the stack of a usage error too, without the bug hint", () => {
  const text = formatFatal("predictor", new UsageError("bad flag"), true);
  assert.match(text, /UsageError: bad flag\n\s+at /);
  assert.doesNotMatch(text, /bug in Oar/);
});

test("yargs failures become one-line usage errors", () => {
  const e = yargsError("Unknown argument: foo\nsee --help", undefined);
  assert.ok(e instanceof UsageError);
  assert.equal(e.message, "Unknown argument: foo see --help");
  assert.equal(yargsError(undefined, new Error("--x is required")).message, "--x is required");
});

test("a model directory that is missing or a file is a usage error naming the flag", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-cli-"));
  try {
    requireModelDirectory(dir);
    assert.throws(() => requireModelDirectory(path.join(dir, "nope")), (e) => e instanceof UsageError && /^--model_name_or_path .*nope: no such directory/.test(e.message));
    fs.writeFileSync(path.join(dir, "file"), "");
    assert.throws(() => requireModelDirectory(path.join(dir, "file"), "--lora_path"), (e) => e instanceof UsageError && /^--lora_path .*file: not a directory$/.test(e.message));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
