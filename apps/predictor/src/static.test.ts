/**
 * Static mode end to end: checkpoints exported by the real `export-model`
 * bin, run by `predictor --mode static`, against `--mode dynamic` on the
 * checkpoint itself.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runBin } from "@oar/cli/testing";
import { EXPORT_MODEL_BIN, EXPORT_MODEL_BUILT, predictor, readOutput, SAMPLE_LINES, tinyInstructModel, writeTestAdapters } from "./cli-testing.js";

const NO_EXPORTER = EXPORT_MODEL_BUILT ? false : "apps/export-model is not built (npx turbo run build --filter=@oar/export-model)";

let root: string;
let model: string;
let data: string;
const GREEDY = ["--decode_strategy", "greedy_search", "--max_length", "12"];

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-static-"));
  model = tinyInstructModel();
  data = path.join(root, "data.jsonl");
  fs.writeFileSync(data, `${SAMPLE_LINES.join("\n")}\n`);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Exports the tiny model with `flags` into root/name; returns the directory. */
async function exported(name: string, ...flags: string[]): Promise<string> {
  const dir = path.join(root, name);
  if (fs.existsSync(path.join(dir, "oar_inference.json"))) return dir;
  const r = await runBin(EXPORT_MODEL_BIN, ["--model_name_or_path", model, "--output_path", dir, ...flags], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

/** Greedy outputs of a predictor run that must succeed. */
async function outputs(name: string, ...args: string[]): Promise<string[]> {
  const file = path.join(root, name);
  const r = await predictor(["--data_file", data, "--output_file", file, ...GREEDY, ...args], root);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!fs.readFileSync(file, "utf8").includes("<|im_end|>"));
  return readOutput(file).map((l) => l.output);
}

describe("predictor --mode static", () => {
  it("refuses a graph flag the directory was not exported with", { skip: NO_EXPORTER }, async () => {
    const dir = await exported("inference");
    const r = await predictor(["--model_name_or_path", dir, "--mode", "static", "--dtype", "bfloat16", "--output_file", path.join(root, "x.json")], root);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^predictor: --dtype bfloat16: .* was exported with --dtype float32; static mode runs the graph as exported/);
  });

  it("gives dynamic mode's greedy outputs, with batch sizes 1 and 3", { skip: NO_EXPORTER }, async () => {
    const dir = await exported("inference");
    const dynamic = await outputs("dynamic.json", "--model_name_or_path", model, "--batch_size", "3");
    assert.equal(dynamic.length, SAMPLE_LINES.length);
    assert.deepEqual(await outputs("static-b1.json", "--model_name_or_path", dir, "--mode", "static", "--batch_size", "1"), dynamic);
    assert.deepEqual(await outputs("static-b3.json", "--model_name_or_path", dir, "--mode", "static", "--batch_size", "3"), dynamic);
  });

  it("gives dynamic mode's greedy outputs for the fused graph and block attention", { skip: NO_EXPORTER }, async () => {
    const dynamic = await outputs("dynamic-fused.json", "--model_name_or_path", model, "--batch_size", "3");
    const fused = await exported("inference-fused", "--inference_model", "--block_attn", "--block_size", "16");
    assert.deepEqual(await outputs("static-fused.json", "--model_name_or_path", fused, "--mode", "static", "--batch_size", "3"), dynamic);
  });

  it("gives dynamic mode's greedy outputs with LoRA merged at export and a prefix exported beside the graph", { skip: NO_EXPORTER }, async () => {
    const { lora, prefix } = writeTestAdapters(root, model);
    const dynamic = await outputs("dynamic-adapters.json", "--model_name_or_path", model, "--lora_path", lora, "--prefix_path", prefix, "--batch_size", "3");
    const dir = await exported("inference-adapters", "--lora_path", lora, "--prefix_path", prefix);
    assert.deepEqual(await outputs("static-adapters.json", "--model_name_or_path", dir, "--mode", "static", "--batch_size", "3"), dynamic);
  });
});
