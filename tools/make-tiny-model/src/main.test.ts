import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/make-tiny-model.js");

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-make-tiny-model-cli-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("make-tiny-model CLI", () => {
  it("writes a checkpoint", () => {
    const out = path.join(root, "ok");
    const r = run("--arch", "qwen2", "--preset", "tiny", "--dtype", "bf16", "--instruct", "--seed", "5", "--output_path", out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `make-tiny-model: wrote ${out}\n`);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(cfg["torch_dtype"], "bfloat16");
    assert.equal(cfg["eos_token_id"], 151645);
  });

  const bad: [string, string[], RegExp][] = [
    ["an unknown arch", ["--arch", "gpt2", "--output_path", "x"], /^make-tiny-model: Invalid values: Argument: arch, Given: "gpt2", Choices: "qwen2", "llama"\n$/],
    ["an unknown dtype", ["--dtype", "f8", "--output_path", "x"], /Argument: dtype, Given: "f8"/],
    ["an unknown flag", ["--bogus", "--output_path", "x"], /^make-tiny-model: Unknown argument: bogus\n$/],
    ["no output path", ["--preset", "tiny"], /^make-tiny-model: --output_path DIR is required\n$/],
    ["a bad seed", ["--seed", "-3", "--output_path", "x"], /^make-tiny-model: --seed must be a non-negative integer, got -3\n$/],
    ["llama2.c with generation flags", ["--from_llama2c", "m.bin", "--preset", "tiny", "--output_path", "x"], /cannot be combined with --preset\n$/],
    ["a missing llama2.c file", ["--from_llama2c", "/nonexistent/m.bin", "--output_path", "x"], /^make-tiny-model: \/nonexistent\/m\.bin: cannot open/],
  ];
  for (const [what, args, message] of bad) {
    it(`fails with one line for ${what}`, () => {
      const r = run(...args);
      assert.equal(r.status, 1);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    });
  }

  it("refuses a non-empty output directory without --overwrite", () => {
    const out = path.join(root, "busy");
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "x"), "");
    const r = run("--output_path", out, "--dtype", "bf16");
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `make-tiny-model: ${out}: output directory is not empty (1 entries); pass overwrite (--overwrite) to replace its checkpoint files\n`);
    assert.equal(run("--output_path", out, "--dtype", "bf16", "--overwrite").status, 0);
  });
});
