import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import type { DecoderConfig } from "@oar/modeling";
import { parsePredictorFlags } from "./flags.js";
import { checkModelDir, checkStaticFlags, dynamicStorage, INFERENCE_MANIFEST, readExportedSettings } from "./model.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-model-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const config = (over: Partial<DecoderConfig> = {}): DecoderConfig =>
  ({ hiddenSize: 896, intermediateSize: 4864, numHeads: 14, headDim: 64, torchDtype: "bfloat16", ...over }) as DecoderConfig;

describe("checkModelDir", () => {
  const checkpoint = path.join(root, "ckpt");
  const exported = path.join(root, "inference");
  fs.mkdirSync(checkpoint);
  fs.mkdirSync(exported);
  fs.writeFileSync(path.join(exported, INFERENCE_MANIFEST), "{}");

  it("takes a checkpoint in dynamic mode and an inference directory in static mode", () => {
    checkModelDir(checkpoint, "dynamic");
    checkModelDir(exported, "static");
  });

  it("says which mode the other kind of directory needs", () => {
    assert.throws(() => checkModelDir(exported, "dynamic"), /an inference directory written by export-model \(it has oar_inference\.json\); run it with --mode static$/);
    assert.throws(() => checkModelDir(checkpoint, "static"), /no oar_inference\.json, so not an inference directory; export it first/);
    assert.throws(() => checkModelDir(path.join(root, "missing"), "dynamic"), /--model_name_or_path .*missing: no such directory/);
    assert.throws(() => checkModelDir(path.join(exported, INFERENCE_MANIFEST), "static"), /: not a directory$/);
  });
});

describe("dynamic storage", () => {
  it("keeps the checkpoint's dtype unless --dtype says otherwise", () => {
    assert.deepEqual(dynamicStorage({ dtype: null, quantType: "" }, config()), { format: "bf16" });
    assert.deepEqual(dynamicStorage({ dtype: "float32", quantType: "" }, config()), { format: "f32" });
    assert.deepEqual(dynamicStorage({ dtype: "float16", quantType: "" }, config()), { format: "f16" });
  });

  it("quantizes to int8 with one scale per output channel, as PaddleNLP's weight_only_int8", () => {
    assert.deepEqual(dynamicStorage({ dtype: null, quantType: "weight_only_int8" }, config()), { format: "q8", blockSize: "channel" });
    assert.deepEqual(dynamicStorage({ dtype: "float32", quantType: "weight_only_int8" }, config()), { format: "q8", blockSize: "channel" });
  });

  it("sends int4 and a8w8 to export-model and static mode", () => {
    assert.throws(() => dynamicStorage({ dtype: null, quantType: "weight_only_int4" }, config()), /--quant_type weight_only_int4: dynamic mode quantizes only to weight_only_int8; export the model with export-model --quant_type weight_only_int4 and run it with --mode static$/);
    assert.throws(() => dynamicStorage({ dtype: null, quantType: "a8w8" }, config()), /export-model --quant_type a8w8/);
  });
});

describe("static mode and the exported settings", () => {
  const dir = path.join(root, "exported");
  fs.mkdirSync(dir);
  const manifest = { dtype: "float32", quant_type: "weight_only_int8", inference_model: true, block_attention: { enabled: true, block_size: 64 } };
  fs.writeFileSync(path.join(dir, INFERENCE_MANIFEST), JSON.stringify(manifest));
  const flags = (args: string[]) => parsePredictorFlags(["--model_name_or_path", dir, "--mode", "static", "--output_file", path.join(root, "o.json"), ...args]);

  it("accepts graph flags that say what the directory holds, as PaddleNLP commands repeat them", () => {
    const exported = readExportedSettings(dir);
    checkStaticFlags(flags([]), exported);
    checkStaticFlags(flags(["--dtype", "float32", "--quant_type", "weight_only_int8", "--inference_model", "--block_attn", "--block_size", "64"]), exported);
  });

  it("refuses one that says otherwise", () => {
    const exported = readExportedSettings(dir);
    assert.throws(() => checkStaticFlags(flags(["--dtype", "float16"]), exported), /--dtype float16: .* was exported with --dtype float32; static mode runs the graph as exported/);
    assert.throws(() => checkStaticFlags(flags(["--quant_type", ""]), exported), /--quant_type "": .* was exported with --quant_type weight_only_int8/);
    assert.throws(() => checkStaticFlags(flags(["--block_attn", "--block_size", "16"]), exported), /--block_size 16: .* was exported with --block_size 64/);
    assert.throws(() => checkStaticFlags(flags(["--inference_model", "false"]), exported), /--inference_model false: .* was exported with --inference_model;/);
  });

  it("refuses a manifest it cannot read", () => {
    fs.writeFileSync(path.join(root, "ckpt", INFERENCE_MANIFEST), "{}");
    assert.throws(() => readExportedSettings(path.join(root, "ckpt")), /lacks dtype, quant_type, inference_model or block_attention/);
    fs.rmSync(path.join(root, "ckpt", INFERENCE_MANIFEST));
  });
});
