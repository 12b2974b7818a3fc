import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** Runs one compiled example as a user would, returning its stdout. */
function run(example: string, ...args: string[]): string {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), `${example}.js`);
  return execFileSync(process.execPath, [file, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

test("generate: dynamic mode streams a chat answer and says why it stopped", () => {
  const out = run("generate");
  assert.match(out, /\d+ tokens, finished by (eos|length)/);
  assert.doesNotMatch(out, /<\|im_end\|>/);
});

test("export: writes a fused int8 inference directory", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-example-export-"));
  try {
    const out = run("export", "", path.join(dir, "inference"));
    assert.match(out, /skip-rms-norm x\d+/);
    assert.match(out, /qkv-merge x2/);
    assert.match(out, /matmul-nbits-int8 x\d+/);
    assert.ok(fs.existsSync(path.join(dir, "inference", "oar_inference.json")));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("lora: merged and unmerged adapters agree", () => {
  const out = run("lora");
  const m = /merged vs unmerged differ by at most ([\d.e+-]+)/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[1]) < 1e-3, out);
});

test("static: export, then continuous batching on onnxruntime answers every prompt", () => {
  const out = run("static");
  for (let i = 0; i < 4; i++) assert.match(out, new RegExp(`^\\[${i}\\] `, "m"));
  assert.match(out, /4 prompts, \d+ tokens/);
  assert.doesNotMatch(out, /<\|im_end\|>/);
});

test("server: the official openai client talks to oar-server started from a program", () => {
  const out = run("server");
  assert.match(out, /^serving demo$/m);
  assert.match(out, /^answer: ".*" \((stop|length)\)$/m);
  assert.match(out, /^usage: \d+ prompt \+ \d+ completion tokens$/m);
});

test("formats: a PaddleNLP .pdparams checkpoint generates what its safetensors original does", () => {
  const out = run("formats");
  assert.match(out, /: pdparams weights in paddlenlp's layout\n/);
  assert.match(out, /greedy tokens: (\d+ ){7}\d+\n/);
  assert.match(out, /the safetensors original gives the same tokens/);
});
