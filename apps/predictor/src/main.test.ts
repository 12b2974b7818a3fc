/**
 * End to end: the real `predictor` bin on the tiny Qwen2-Instruct checkpoint.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { generate } from "@oar/generation";
import { loadEagerModel } from "@oar/modeling";
import { loadTokenizer } from "@oar/tokenizer";
import { predictor, readOutput, SAMPLE_LINES, tinyInstructModel, writeTestAdapters } from "./cli-testing.js";

let root: string;
let model: string;
let data: string;
const GREEDY = ["--decode_strategy", "greedy_search", "--max_length", "12"];

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-e2e-"));
  model = tinyInstructModel();
  data = path.join(root, "data.jsonl");
  fs.writeFileSync(data, `${SAMPLE_LINES.join("\n")}\n`);
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function out(name: string): string {
  return path.join(root, name);
}

/** Greedy outputs of a run that must succeed. */
async function outputs(name: string, ...args: string[]): Promise<string[]> {
  const r = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out(name), ...GREEDY, ...args], root);
  assert.equal(r.status, 0, r.stderr);
  return readOutput(out(name)).map((l) => l.output);
}

describe("predictor, dynamic mode", () => {
  it("gives the same greedy outputs with batch sizes 1 and 3, one line per prompt in input order with the raw src", async () => {
    const r1 = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out("b1.json"), "--batch_size", "1", ...GREEDY], root);
    const r3 = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out("b3.json"), "--batch_size", "3", ...GREEDY], root);
    assert.equal(r1.status, 0, r1.stderr);
    assert.equal(r3.status, 0, r3.stderr);
    const lines1 = readOutput(out("b1.json"));
    const lines3 = readOutput(out("b3.json"));
    assert.equal(lines1.length, SAMPLE_LINES.length);
    assert.deepEqual(lines3, lines1);
    SAMPLE_LINES.forEach((line, i) => {
      const input = JSON.parse(line) as { src: unknown; tgt?: unknown };
      assert.deepEqual(lines1[i]!.src, input.src);
      assert.deepEqual(lines1[i]!.tgt, input.tgt ?? "");
      assert.ok(lines1[i]!.output.length > 0);
    });
    // UTF-8 as it is, not \u escapes; special tokens never reach the output.
    const text = fs.readFileSync(out("b1.json"), "utf8");
    assert.ok(text.includes("解释一下“温故而知新”"));
    assert.ok(!text.includes("<|im_end|>") && !text.includes("<|im_start|>") && !text.includes("<|endoftext|>"));
    assert.equal(r3.stdout, r1.stdout);
    assert.equal(r1.stdout.match(/\*+Source\*+/g)?.length, SAMPLE_LINES.length);
    assert.ok(!r1.stdout.includes("<|im_end|>"));
  });

  it("prints the same results with --stream, token by token", async () => {
    const plain = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out("plain.json"), "--batch_size", "3", ...GREEDY], root);
    const streamed = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out("stream.json"), "--batch_size", "3", "--stream", ...GREEDY], root);
    assert.equal(streamed.status, 0, streamed.stderr);
    assert.equal(streamed.stdout, plain.stdout);
    assert.deepEqual(readOutput(out("stream.json")), readOutput(out("plain.json")));
  });

  it("--resume skips the prompts already in the output file, and samples what a full run samples", async () => {
    const args = ["--model_name_or_path", model, "--data_file", data, "--max_length", "10", "--batch_size", "2", "--seed", "7"];
    const full = await predictor([...args, "--output_file", out("full.json")], root);
    assert.equal(full.status, 0, full.stderr);
    const lines = fs.readFileSync(out("full.json"), "utf8").split("\n");
    // Two whole lines and a torn third, as an interrupted write would leave.
    fs.writeFileSync(out("resumed.json"), `${lines[0]}\n${lines[1]}\n${lines[2]!.slice(0, 10)}`);
    const resumed = await predictor([...args, "--output_file", out("resumed.json"), "--resume"], root);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(fs.readFileSync(out("resumed.json"), "utf8"), fs.readFileSync(out("full.json"), "utf8"));
    assert.match(resumed.stderr, /--resume: 2 of 5 prompts already in/);
    assert.match(resumed.stderr, /ends in an incomplete line/);
    assert.equal(resumed.stdout.match(/\*+Source\*+/g)?.length, 3);
    const again = await predictor([...args, "--output_file", out("resumed.json"), "--resume"], root);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /nothing left to do/);
  });

  it("--benchmark generates exactly --max_length tokens a prompt and ends with one JSON line of figures", async () => {
    const r = await predictor(["--model_name_or_path", model, "--data_file", data, "--output_file", out("bench.json"), "--benchmark", "--max_length", "6", "--batch_size", "2"], root);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    const figures = JSON.parse(lines.at(-1)!) as Record<string, number>;
    for (const key of ["input_tokens", "output_tokens", "batch_size", "prefill_tokens_per_s", "decode_tokens_per_s", "tokens_per_s", "requests_per_s"]) {
      assert.equal(typeof figures[key], "number", key);
    }
    assert.equal(figures["output_tokens"], 6 * SAMPLE_LINES.length);
    assert.equal(figures["batch_size"], 2);
    assert.ok(figures["decode_tokens_per_s"]! > 0 && figures["prefill_tokens_per_s"]! > 0);
    assert.match(r.stdout, /input length: .*\noutput length: .*\nbatch size: +2\nprefill: .*tokens\/s\ndecode: .*tokens\/s\ntotal: .*tokens\/s/);
    assert.match(r.stderr, /warm-up/);
    assert.ok(!fs.existsSync(out("bench.json")));
  });

  it("stops on every EOS id, generation_config.json's list included", async () => {
    // The greedy second token of a prompt, made an EOS id in a copy of the checkpoint: the answer must stop before it.
    const tokenizer = await loadTokenizer(model);
    const eager = await loadEagerModel(model);
    const src = "Write a haiku about the sea.";
    const first = await generate(eager, { tokens: tokenizer.encodeChat([{ role: "user", content: src }]) }, { maxNewTokens: 2, decodeStrategy: "greedy_search" });
    await eager.dispose();
    const copy = path.join(root, "eos-model");
    fs.mkdirSync(copy);
    for (const f of fs.readdirSync(model)) fs.symlinkSync(path.join(model, f), path.join(copy, f));
    fs.rmSync(path.join(copy, "generation_config.json"));
    const generation = JSON.parse(fs.readFileSync(path.join(model, "generation_config.json"), "utf8")) as { eos_token_id: number[] };
    fs.writeFileSync(path.join(copy, "generation_config.json"), JSON.stringify({ ...generation, eos_token_id: [...generation.eos_token_id, first.tokens[1]] }));
    const single = path.join(root, "eos.jsonl");
    fs.writeFileSync(single, `${JSON.stringify({ src })}\n`);
    const r = await predictor(["--model_name_or_path", copy, "--data_file", single, "--output_file", out("eos.json"), ...GREEDY], root);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readOutput(out("eos.json"))[0]!.output, tokenizer.decode([first.tokens[0]!]));
  });

  it("uses the built-in Chinese prompt without a data file", async () => {
    const r = await predictor(["--model_name_or_path", model, "--output_file", out("seed.json"), ...GREEDY], root);
    assert.equal(r.status, 0, r.stderr);
    const [line] = readOutput(out("seed.json"));
    assert.match(String(line!.src), /^目前全世界的经济都是为一个事情服务的/);
  });

  it("gives dense and block attention the same greedy outputs; int8 and bf16 storage run", async () => {
    const dense = await outputs("dense.json", "--batch_size", "3");
    assert.deepEqual(await outputs("paged.json", "--batch_size", "3", "--block_attn", "--block_size", "16"), dense);
    assert.equal((await outputs("int8.json", "--quant_type", "weight_only_int8")).length, SAMPLE_LINES.length);
    assert.equal((await outputs("bf16.json", "--dtype", "bfloat16")).length, SAMPLE_LINES.length);
  });

  it("applies LoRA merged or unmerged alike, and a prefix", async () => {
    const { lora, prefix } = writeTestAdapters(root, model);
    const base = await outputs("base.json");
    const merged = await outputs("lora-merged.json", "--lora_path", lora);
    const unmerged = await outputs("lora-unmerged.json", "--lora_path", lora, "--lora_merge", "false");
    assert.deepEqual(unmerged, merged);
    assert.notDeepEqual(merged, base);
    const prefixed = await outputs("prefix.json", "--prefix_path", prefix);
    assert.notDeepEqual(prefixed, base);
  });

  it("renders a --chat_template file, and --chat_template none encodes the raw prompt", async () => {
    const template = path.join(root, "plain.jinja");
    fs.writeFileSync(template, "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:");
    const templated = await outputs("tpl.json", "--chat_template", template);
    const base = await outputs("tpl-base.json");
    assert.notDeepEqual(templated, base);
    const single = path.join(root, "single.jsonl");
    fs.writeFileSync(single, `${SAMPLE_LINES[0]}\n`);
    const r = await predictor(["--model_name_or_path", model, "--data_file", single, "--output_file", out("none.json"), "--chat_template", "none", ...GREEDY], root);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /chat template: none/);
  });

  it("--help lists every flag with its default", async () => {
    const r = await predictor(["--help"], root);
    assert.equal(r.status, 0);
    for (const [flag, shown] of [
      ["--top_p", "[default: 0.7]"],
      ["--temperature", "[default: 0.95]"],
      ["--top_k", "[default: 0]"],
      ["--decode_strategy", '[default: "sampling"]'],
      ["--max_length", "[default: 1024]"],
      ["--src_length", "[default: 1024]"],
      ["--batch_size", "[default: 1]"],
      ["--output_file", '[default: "output.json"]'],
      ["--mode", '[default: "dynamic"]'],
      ["--block_size", "[default: 64]"],
      ["--dtype", "[default: the checkpoint's torch_dtype]"],
    ] as const) {
      // A flag's entry runs from its line to the next flag's, wrapped at the terminal width.
      const entry = r.stdout.slice(r.stdout.search(new RegExp(`\\n  ${flag}[, ]`)) + 1).split(/\n  --/)[0]!;
      assert.ok(entry.replace(/\s+/g, " ").includes(shown), `${flag}: ${entry}`);
    }
    for (const flag of ["--model_name_or_path", "--data_file", "--chat_template", "--quant_type", "--inference_model", "--block_attn", "--lora_path", "--lora_merge", "--prefix_path", "--device", "--stream", "--benchmark", "--resume", "--seed", "--repetition_penalty"]) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });
});

describe("predictor, bad input", () => {
  /** [what, flags to set or replace, the one line expected] */
  const cases: [string, (dirs: { bad: string; inference: string }) => Record<string, string | null>, RegExp][] = [
    ["a missing model directory", () => ({ "--model_name_or_path": "/nonexistent/model" }), /^predictor: --model_name_or_path \/nonexistent\/model: no such directory/],
    ["a checkpoint with --mode static", () => ({ "--mode": "static" }), /no oar_inference\.json, so not an inference directory; export it first/],
    ["an inference directory with --mode dynamic", ({ inference }) => ({ "--model_name_or_path": inference }), /an inference directory written by export-model .*; run it with --mode static$/],
    ["an unknown flag", () => ({ "--top_q": "1" }), /^predictor: Unknown argument: top_q$/],
    ["--top_p 1.5", () => ({ "--top_p": "1.5" }), /^predictor: --top_p must be in \(0, 1\], got 1\.5$/],
    ["--batch_size 0", () => ({ "--batch_size": "0" }), /^predictor: --batch_size must be an integer >= 1, got 0$/],
    ["a data file with a broken line", ({ bad }) => ({ "--data_file": bad }), /^predictor: --data_file .*bad\.jsonl line 3: not valid JSON/],
    ["a missing data file", () => ({ "--data_file": "/nonexistent/data.jsonl" }), /^predictor: --data_file \/nonexistent\/data\.jsonl: cannot read: no such file$/],
    ["an output file in a missing directory", () => ({ "--output_file": "/nonexistent/dir/out.json" }), /^predictor: --output_file \/nonexistent\/dir\/out\.json: directory \/nonexistent\/dir does not exist$/],
    ["an unreadable chat template", () => ({ "--chat_template": "/nonexistent/t.jinja" }), /^predictor: --chat_template \/nonexistent\/t\.jinja: cannot read the template: no such file$/],
    ["a conversation with --chat_template none", () => ({ "--chat_template": "none" }), /^predictor: data file line 3: "src" is a conversation, which needs a chat template/],
    ["int4 in dynamic mode", () => ({ "--quant_type": "weight_only_int4" }), /^predictor: --quant_type weight_only_int4: dynamic mode quantizes only to weight_only_int8; export the model/],
    ["--device gpu in dynamic mode", () => ({ "--device": "gpu" }), /^predictor: --device gpu: dynamic mode runs on the CPU/],
    ["a missing LoRA directory", () => ({ "--lora_path": "/nonexistent/lora" }), /^predictor: \/nonexistent\/lora: cannot open adapter directory/],
    ["a flag given twice", () => ({ "--seed": "1 2" }), /^predictor: --seed was given 2 times; give it once$/],
  ];
  for (const [what, change, message] of cases) {
    it(`fails with one line and no output file for ${what}`, async () => {
      const bad = path.join(root, "bad.jsonl");
      fs.writeFileSync(bad, `${SAMPLE_LINES[0]}\n${SAMPLE_LINES[1]}\n{"src": "unterminated\n`);
      const inference = path.join(root, "inference-dir");
      fs.mkdirSync(inference, { recursive: true });
      fs.writeFileSync(path.join(inference, "oar_inference.json"), "{}");
      const output = out(`bad-${what.replace(/\W+/g, "-")}.json`);
      const flags: Record<string, string | null> = { "--model_name_or_path": model, "--data_file": data, "--output_file": output, "--decode_strategy": "greedy_search", "--max_length": "4", ...change({ bad, inference }) };
      const args = Object.entries(flags).flatMap(([flag, value]) => (value === null ? [flag] : value.includes(" ") && flag === "--seed" ? value.split(" ").flatMap((v) => [flag, v]) : [flag, value]));
      const r = await predictor(args, root);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), message);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(!fs.existsSync(output) && !fs.existsSync(flags["--output_file"]!));
      assert.equal(r.stdout, "");
    });
  }
});
