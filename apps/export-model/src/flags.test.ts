import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parseExportFlags } from "./flags.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-export-model-flags-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const model = path.join(root, "ckpt");
fs.mkdirSync(model);

describe("export-model flags", () => {
  it("has PaddleNLP's defaults and gives exportModel its options", () => {
    assert.deepEqual(parseExportFlags(["--model_name_or_path", model]), {
      modelDir: model,
      outputDir: "./inference",
      dtype: "float32",
      quantType: null,
      inferenceModel: false,
      attention: "grouped",
      blockAttn: false,
      loraPaths: [],
      prefixPath: null,
      overwrite: false,
    });
  });

  it("passes every flag, kebab-case aliases included", () => {
    const o = parseExportFlags([
      "--model-name-or-path", model, "--output-path", "out", "--dtype", "bfloat16", "--quant_type", "weight_only_int4", "--quant_block_size", "128", "--inference_model", "--attention", "repeat-kv",
      "--block_attn", "--block_size", "32", "--src_length", "512", "--max_length", "256", "--lora_path", "a", "b", "--prefix_path", "p", "--overwrite",
    ]);
    assert.deepEqual(o, {
      modelDir: model,
      outputDir: "out",
      dtype: "bfloat16",
      quantType: "weight_only_int4",
      quantization: { blockSize: 128 },
      inferenceModel: true,
      attention: "repeat-kv",
      blockAttn: true,
      blockSize: 32,
      srcLength: 512,
      maxLength: 256,
      loraPaths: ["a", "b"],
      prefixPath: "p",
      overwrite: true,
    });
    assert.equal(parseExportFlags(["--model_name_or_path", model, "--block_attn"]).blockSize, 64);
  });

  const bad: [string, string[], RegExp][] = [
    ["no model", [], /^--model_name_or_path DIR is required$/],
    ["a missing model directory", ["--model_name_or_path", "/nonexistent/m"], /^--model_name_or_path \/nonexistent\/m: no such directory/],
    ["an unknown flag", ["--model_name_or_path", model, "--bogus"], /^Unknown argument: bogus$/],
    ["an unknown dtype", ["--model_name_or_path", model, "--dtype", "int8"], /Argument: dtype, Given: "int8"/],
    ["--block_size without --block_attn", ["--model_name_or_path", model, "--block_size", "16"], /^--block_size applies to block attention; add --block_attn$/],
    ["--quant_block_size without --quant_type", ["--model_name_or_path", model, "--quant_block_size", "64"], /^--quant_block_size applies to quantized weights; add --quant_type$/],
    ["a zero src_length", ["--model_name_or_path", model, "--src_length", "0"], /^--src_length must be an integer >= 1, got 0$/],
    ["a flag given twice", ["--model_name_or_path", model, "--dtype", "float32", "--dtype", "float16"], /^--dtype was given 2 times; give it once$/],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => parseExportFlags(args), (e: Error) => e.name === "UsageError" && message.test(e.message));
    });
  }

  it("refuses an inference directory as the model", () => {
    const exported = path.join(root, "inference");
    fs.mkdirSync(exported);
    fs.writeFileSync(path.join(exported, "oar_inference.json"), "{}");
    assert.throws(() => parseExportFlags(["--model_name_or_path", exported]), /already an inference directory \(it has oar_inference\.json\); export the checkpoint it came from/);
  });
});
