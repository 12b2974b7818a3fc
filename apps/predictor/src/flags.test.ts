import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parsePredictorFlags } from "./flags.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-flags-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const out = path.join(root, "out.json");

describe("predictor flags", () => {
  it("has PaddleNLP's defaults", () => {
    const f = parsePredictorFlags(["--model_name_or_path", "m", "--output_file", out]);
    assert.equal(f.mode, "dynamic");
    assert.equal(f.device, "cpu");
    assert.equal(f.decodeStrategy, "sampling");
    assert.equal(f.topP, 0.7);
    assert.equal(f.temperature, 0.95);
    assert.equal(f.topK, 0);
    assert.equal(f.repetitionPenalty, 1);
    assert.equal(f.srcLength, 1024);
    assert.equal(f.maxLength, 1024);
    assert.equal(f.batchSize, 1);
    assert.equal(f.quantType, "");
    assert.equal(f.dtype, null);
    assert.equal(f.blockAttn, false);
    assert.equal(f.blockSize, 64);
    assert.deepEqual(f.loraPaths, []);
    assert.equal(f.loraMerge, true);
    assert.deepEqual(f.chatTemplate, { kind: "tokenizer" });
    assert.equal(f.dataFile, null);
    assert.equal(parsePredictorFlags(["--model_name_or_path", "m"]).outputFile, "output.json");
  });

  it("takes kebab-case aliases, several LoRA directories and --lora_merge false", () => {
    const f = parsePredictorFlags(["--model-name-or-path", "m", "--top-p", "0.5", "--batch-size", "3", "--lora_path", "a", "b", "--lora_merge", "false", "--output_file", out]);
    assert.equal(f.topP, 0.5);
    assert.equal(f.batchSize, 3);
    assert.deepEqual(f.loraPaths, ["a", "b"]);
    assert.equal(f.loraMerge, false);
  });

  it("reads --chat_template none or a file", () => {
    const tpl = path.join(root, "t.jinja");
    fs.writeFileSync(tpl, "{{ messages[0]['content'] }}");
    assert.deepEqual(parsePredictorFlags(["--model_name_or_path", "m", "--chat_template", "none"]).chatTemplate, { kind: "none" });
    assert.deepEqual(parsePredictorFlags(["--model_name_or_path", "m", "--chat_template", tpl]).chatTemplate, { kind: "file", path: tpl, text: "{{ messages[0]['content'] }}" });
  });

  const bad: [string, string[], RegExp][] = [
    ["no model", [], /^--model_name_or_path DIR is required$/],
    ["an unknown flag", ["--bogus", "1"], /^Unknown argument: bogus$/],
    ["top_p 1.5", ["--top_p", "1.5"], /^--top_p must be in \(0, 1\], got 1\.5$/],
    ["a top_p that is not a number", ["--top_p", "x"], /^--top_p must be a number$/],
    ["batch_size 0", ["--batch_size", "0"], /^--batch_size must be an integer >= 1, got 0$/],
    ["max_length 2.5", ["--max_length", "2.5"], /^--max_length must be an integer >= 1, got 2\.5$/],
    ["temperature 0", ["--temperature", "0"], /^--temperature must be > 0, got 0$/],
    ["beam search", ["--decode_strategy", "beam_search"], /Argument: decode_strategy, Given: "beam_search", Choices: "sampling", "greedy_search"/],
    ["an output file in a missing directory", ["--output_file", "/nonexistent-dir/out.json"], /^--output_file \/nonexistent-dir\/out\.json: directory \/nonexistent-dir does not exist$/],
    ["gpu in dynamic mode", ["--device", "gpu"], /^--device gpu: dynamic mode runs on the CPU; .*--mode static --device gpu$/],
    ["--lora_merge without --lora_path", ["--lora_merge", "false"], /^--lora_merge applies to --lora_path$/],
    ["--block_size without --block_attn", ["--block_size", "16"], /^--block_size applies to block attention; add --block_attn$/],
    ["a missing template file", ["--chat_template", "/nonexistent/t.jinja"], /^--chat_template \/nonexistent\/t\.jinja: cannot read the template: no such file$/],
    ["--resume with --benchmark", ["--resume", "--benchmark"], /^--resume continues an output file; --benchmark writes none$/],
    ["LoRA in static mode", ["--mode", "static", "--lora_path", "a"], /^--lora_path: static mode runs an exported graph; merge LoRA when exporting/],
    ["a positional argument", ["extra"], /^Unknown argument: extra$/],
  ];
  for (const [what, args, message] of bad) {
    it(`refuses ${what}`, () => {
      const full = args.includes("--output_file") || what === "no model" ? args : [...args, "--output_file", out];
      assert.throws(() => parsePredictorFlags(what === "no model" ? full : ["--model_name_or_path", "m", ...full]), (e: Error) => e.name === "UsageError" && message.test(e.message));
    });
  }
});
