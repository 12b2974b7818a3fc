/**
 * End to end: the real `export-model` bin on a PaddleNLP .pdparams
 * checkpoint and on a hostile one.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { runBin } from "@oar/cli/testing";
import { formatGolden } from "@oar/make-tiny-model";
import { GOLDENS } from "@oar/tensor/testing";

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/export-model.js");

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-export-model-formats-"));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

describe("export-model reads PaddleNLP and PyTorch checkpoints", () => {
  it("exports model_state.pdparams and records the format in oar_inference.json", async () => {
    const { dir } = formatGolden("qwen2-pdparams");
    const out = path.join(root, "inference");
    const r = await runBin(BIN, ["--model_name_or_path", dir, "--output_path", out]);
    assert.equal(r.status, 0, r.stderr);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, "oar_inference.json"), "utf8")) as { source: { weight_format: unknown } };
    assert.deepEqual(manifest.source.weight_format, { files: "pdparams", naming: "paddlenlp" });
  });

  it("refuses a hostile pytorch_model.bin in one line and writes nothing", async () => {
    const work = fs.mkdtempSync(path.join(root, "hostile-"));
    const model = path.join(work, "model");
    fs.mkdirSync(model);
    fs.copyFileSync(path.join(formatGolden("qwen2-pytorch").dir, "config.json"), path.join(model, "config.json"));
    fs.copyFileSync(path.join(GOLDENS, "hostile", "reduce-os-system.bin"), path.join(model, "pytorch_model.bin"));
    const marker = path.join(work, "marker");
    const out = path.join(work, "inference");
    const r = await runBin(BIN, ["--model_name_or_path", model, "--output_path", out], { cwd: work, env: { OAR_PICKLE_MARKER: marker } });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^export-model: ${path.join(model, "pytorch_model.bin").replace(/[.]/g, "\\.")}: reduce-os-system/data\\.pkl: refuses the global posix\\.system`));
    assert.deepEqual(fs.readdirSync(work).sort(), ["model"], "no output directory, no staging directory, no marker");
  });
});
