import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadAdapters, readDecoderConfig, type Adapters } from "@oar/modeling";
import { makeLora, makePrefix } from "./make.js";

const model = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
const cfg = readDecoderConfig(model);
const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-make-adapter-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const out = (): string => path.join(root, `a${n++}`);
const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "make-adapter.js");

const loraValues = (a: Adapters): unknown[] => a.lora.map(({ source: _, ...rest }) => rest);

test("LoRA: the PEFT and PaddleNLP encodings hold the same adapter; the same options give the same bytes", () => {
  const peft = out();
  const paddle = out();
  const again = out();
  makeLora({ modelDir: model, outDir: peft, format: "peft", rank: 4, seed: 3 });
  makeLora({ modelDir: model, outDir: paddle, format: "paddle", rank: 4, seed: 3, shards: 2 });
  makeLora({ modelDir: model, outDir: again, format: "peft", rank: 4, seed: 3 });
  const a = loadAdapters([peft], cfg);
  assert.equal(a.lora.length, 2 * 7);
  assert.ok(a.lora.every((l) => l.rank === 4 && l.scale === 2));
  assert.deepEqual(loraValues(loadAdapters([paddle], cfg)), loraValues(a));
  assert.deepEqual(fs.readFileSync(path.join(again, "adapter_model.safetensors")), fs.readFileSync(path.join(peft, "adapter_model.safetensors")));
  const other = out();
  makeLora({ modelDir: model, outDir: other, format: "peft", rank: 4, seed: 4 });
  assert.notDeepEqual(loadAdapters([other], cfg).lora[0]!.a, a.lora[0]!.a);
});

test("LoRA: a module's values do not depend on which others are targeted; zero makes B zero", () => {
  const all = out();
  const some = out();
  const zero = out();
  makeLora({ modelDir: model, outDir: all, format: "peft", rank: 2 });
  makeLora({ modelDir: model, outDir: some, format: "paddle", rank: 2, targets: ["v_proj", "down_proj"], alpha: 3, rslora: true });
  makeLora({ modelDir: model, outDir: zero, format: "peft", rank: 2, zero: true });
  const byModule = new Map(loadAdapters([all], cfg).lora.map((l) => [l.module, l]));
  const subset = loadAdapters([some], cfg).lora;
  assert.deepEqual(subset.map((l) => l.module), ["model.layers.0.self_attn.v_proj", "model.layers.0.mlp.down_proj", "model.layers.1.self_attn.v_proj", "model.layers.1.mlp.down_proj"]);
  for (const l of subset) {
    assert.deepEqual(l.a, byModule.get(l.module)!.a);
    assert.equal(l.scale, 3 / Math.sqrt(2));
  }
  assert.ok(loadAdapters([zero], cfg).lora.every((l) => l.b.every((v) => v === 0)));
});

test("prefix: PEFT, PaddleNLP weights and pre_caches.npy hold the same keys and values, with and without projection", () => {
  for (const projectionHidden of [undefined, 16]) {
    const opts = { modelDir: model, tokens: 5, seed: 2, ...(projectionHidden === undefined ? {} : { projectionHidden }) };
    const dirs = { peft: out(), both: out(), weights: out(), npy: out() };
    makePrefix({ ...opts, outDir: dirs.peft, format: "peft" });
    makePrefix({ ...opts, outDir: dirs.both, format: "paddle" });
    makePrefix({ ...opts, outDir: dirs.weights, format: "paddle", preCaches: false });
    makePrefix({ ...opts, outDir: dirs.npy, format: "paddle", weights: false });
    const expected = loadAdapters([dirs.peft], cfg).prefix;
    assert.equal(expected?.length, 5);
    for (const d of [dirs.both, dirs.weights, dirs.npy]) assert.deepEqual(loadAdapters([d], cfg).prefix, expected);
    const config = JSON.parse(fs.readFileSync(path.join(dirs.both, "prefix_config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(config["prefix_projection"], projectionHidden !== undefined);
  }
});

test("library errors name what is wrong", () => {
  assert.throws(() => makeLora({ modelDir: model, outDir: out(), format: "peft", shards: 2 }), /shards: PEFT writes one adapter_model\.safetensors/);
  assert.throws(() => makeLora({ modelDir: model, outDir: out(), format: "peft", seed: -1 }), /seed must be a non-negative integer, got -1/);
  assert.throws(() => makePrefix({ modelDir: model, outDir: out(), format: "peft", preCaches: true }), /PaddleNLP's files; PEFT saves prompt_embeddings only/);
  assert.throws(() => makePrefix({ modelDir: model, outDir: out(), format: "paddle", tokens: 0 }), /num_prefix_tokens must be a positive integer, got 0/);
  assert.throws(() => makeLora({ modelDir: path.join(root, "missing"), outDir: out(), format: "peft" }), /missing\/config\.json: cannot be read/);
  const dir = out();
  makeLora({ modelDir: model, outDir: dir, format: "peft", rank: 2 });
  assert.throws(() => makeLora({ modelDir: model, outDir: dir, format: "paddle" }), /not empty \(pass overwrite to replace the adapter files there\)/);
  makeLora({ modelDir: model, outDir: dir, format: "paddle", rank: 2, overwrite: true });
  assert.deepEqual(loadAdapters([dir], cfg).sources.map((s) => s.format), ["paddle-lora"]);
});

test("the command line writes adapters and reports bad flags in one line", () => {
  const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const dir = out();
  const ok = run("--model_name_or_path", model, "--output_path", dir, "--type", "prefix", "--format", "paddle", "--prefix_projection", "--prefix_projection_hidden_size", "8", "--num_prefix_tokens", "3");
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, `make-adapter: wrote ${dir}\n`);
  assert.deepEqual(fs.readdirSync(dir).sort(), ["peft_model.safetensors", "pre_caches.npy", "prefix_config.json"]);
  assert.equal(loadAdapters([dir], cfg).prefix?.length, 3);
  const bad: [string[], RegExp][] = [
    [["--output_path", dir], /^make-adapter: --model_name_or_path DIR is required\n$/],
    [["--model_name_or_path", model, "--output_path", out(), "--type", "lora", "--num_prefix_tokens", "3"], /^make-adapter: --num_prefix_tokens does not apply to --type lora\n$/],
    [["--model_name_or_path", model, "--output_path", out(), "--type", "prefix", "--format", "peft", "--no-pre_caches"], /^make-adapter: --pre_caches is PaddleNLP-only; not for --format peft\n$/],
    [["--model_name_or_path", model, "--output_path", out(), "--target_modules", "q_proj,qkv"], /^make-adapter: --target_modules: "qkv" not among q_proj, /],
    [["--model_name_or_path", model, "--output_path", out(), "--type", "ia3"], /^make-adapter: Invalid values: Argument: type, Given: "ia3", Choices: "lora", "prefix"\n$/],
    [["--model_name_or_path", model, "--output_path", dir, "--type", "lora"], /^make-adapter: .*: not empty \(pass overwrite to replace the adapter files there\)\n$/],
  ];
  for (const [args, re] of bad) {
    const r = run(...args);
    assert.equal(r.status, 1, args.join(" "));
    assert.match(r.stderr, re);
  }
});
