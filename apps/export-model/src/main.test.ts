/**
 * End to end: the real `export-model` bin on the tiny Qwen2-Instruct checkpoint.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { type BinResult, runBin } from "@oar/cli/testing";
import { cachedTinyModel } from "@oar/make-tiny-model";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/export-model.js");

function exportModel(args: readonly string[]): Promise<BinResult> {
  return runBin(BIN, args);
}

let root: string;
let model: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-export-model-e2e-"));
  model = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe("export-model", () => {
  it("writes an inference directory and says what it did: passes with counts, sizes, time", async () => {
    const out = path.join(root, "inference");
    const r = await exportModel(["--model_name_or_path", model, "--output_path", out, "--src_length", "256", "--max_length", "64"]);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ["model.onnx", "oar_inference.json", "config.json", "tokenizer.json", "tokenizer_config.json"]) assert.ok(fs.existsSync(path.join(out, f)), f);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "oar_inference.json"), "utf8")) as Record<string, unknown>;
    assert.equal(manifest["dtype"], "float32");
    assert.equal(manifest["src_length"], 256);
    assert.equal(manifest["max_length"], 64);
    assert.match(r.stdout, /^exported Qwen2ForCausalLM \(2 layers\) from .* in \d+\.\d s\n/);
    assert.match(r.stdout, /\npasses:\n {2}cleanup \(\d+ sweeps?\):\n {4}[\w-]+: fired \d+/);
    assert.match(r.stdout, /\n {2}model\.onnx +\d+\.\d MiB\n/);
    assert.match(r.stdout, /\ngraph: \d+ nodes \(MatMul \d+|\ngraph: \d+ nodes \(.*MatMul \d+/);
    assert.match(r.stdout, /run it with: predictor --mode static --model_name_or_path /);
    assert.match(r.stderr, /^export-model: traced Qwen2ForCausalLM/);
  });

  it("refuses a non-empty output directory without --overwrite, in one line, and replaces it with", async () => {
    const out = path.join(root, "busy");
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, "keep.txt"), "x");
    const r = await exportModel(["--model_name_or_path", model, "--output_path", out]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `export-model: ${out}: the directory is not empty; pass overwrite (--overwrite) to replace it\n`);
    assert.deepEqual(fs.readdirSync(out), ["keep.txt"]);
    const again = await exportModel(["--model_name_or_path", model, "--output_path", out, "--overwrite"]);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(fs.existsSync(path.join(out, "oar_inference.json")) && !fs.existsSync(path.join(out, "keep.txt")));
  });

  const bad: [string, string[], RegExp][] = [
    ["a missing model directory", ["--model_name_or_path", "/nonexistent/m"], /^export-model: --model_name_or_path \/nonexistent\/m: no such directory/],
    ["an unknown flag", ["--modle_name_or_path", "x"], /^export-model: Unknown argument/],
    ["--block_size without --block_attn", ["--block_size", "8"], /^export-model: --block_size applies to block attention; add --block_attn$/],
    ["a missing LoRA directory", ["--lora_path", "/nonexistent/lora"], /^export-model: \/nonexistent\/lora: cannot open adapter directory/],
  ];
  for (const [what, args, message] of bad) {
    it(`fails with one line and writes nothing for ${what}`, async () => {
      const out = path.join(root, `bad-${what.replace(/\W+/g, "-")}`);
      const r = await exportModel([...(args[0] === "--model_name_or_path" ? [] : ["--model_name_or_path", model]), "--output_path", out, ...args]);
      assert.equal(r.status, 1);
      assert.match(r.stderr.trimEnd(), message);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(!fs.existsSync(out));
      assert.deepEqual(fs.readdirSync(root).filter((f) => f.includes("oar-export")), []);
    });
  }

  it("--help lists every flag with its default", async () => {
    const r = await exportModel(["--help"]);
    assert.equal(r.status, 0);
    for (const flag of ["--model_name_or_path", "--output_path", "--dtype", "--quant_type", "--inference_model", "--block_attn", "--block_size", "--src_length", "--max_length", "--lora_path", "--prefix_path", "--overwrite"]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    assert.match(r.stdout.replace(/\s+/g, " "), /--output_path, --output-path .*\[default: "\.\/inference"\]/);
    assert.match(r.stdout.replace(/\s+/g, " "), /--dtype .*\[default: "float32"\]/);
  });
});
