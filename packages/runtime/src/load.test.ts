import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { loadStaticModel } from "./load.js";
import { MANIFEST_FILE } from "./manifest.js";
import { testExports } from "./testing/exports.js";

const exports = testExports("load");
after(() => exports.remove());
const tiny = () => cachedTinyModel({ arch: "llama", preset: "tiny", dtype: "f32" });

let copies = 0;
/** A copy of an exported directory, changed by `edit`. */
async function broken(edit: (dir: string) => void, options = {}): Promise<string> {
  const dir = exports.scratch(`broken-${copies++}`);
  fs.cpSync(await exports.dir(tiny(), options), dir, { recursive: true });
  edit(dir);
  return dir;
}

function editManifest(dir: string, change: (m: Record<string, unknown>) => void): void {
  const file = path.join(dir, MANIFEST_FILE);
  const m = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  change(m);
  fs.writeFileSync(file, JSON.stringify(m));
}

/** loadStaticModel fails with exactly one line matching `pattern`. */
async function refuses(dir: string, pattern: RegExp, options = {}): Promise<void> {
  await assert.rejects(loadStaticModel(dir, options), (e: Error) => {
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe("loadStaticModel refuses a directory it cannot run, in one line naming the file", () => {
  it("a directory that does not exist", async () => {
    await refuses(path.join(exports.scratch("x"), "nope"), /nope: no such directory$/);
  });

  it("a checkpoint directory (no oar_inference.json)", async () => {
    await refuses(tiny(), /: a checkpoint directory, not an inference directory \(no oar_inference\.json\); export it first with export-model/);
  });

  it("oar_inference.json that is not JSON", async () => {
    const dir = await broken((d) => fs.writeFileSync(path.join(d, MANIFEST_FILE), "{ nope"));
    await refuses(dir, /oar_inference\.json: not valid JSON/);
  });

  it("another format_version", async () => {
    const dir = await broken((d) => editManifest(d, (m) => (m["format_version"] = 2)));
    await refuses(dir, /oar_inference\.json: format_version 2 is not the one this runtime reads \(1\)/);
  });

  it("another format", async () => {
    const dir = await broken((d) => editManifest(d, (m) => (m["format"] = "onnx")));
    await refuses(dir, /oar_inference\.json: format is "onnx", expected "oar-inference"/);
  });

  it("a missing model.onnx", async () => {
    const dir = await broken((d) => fs.rmSync(path.join(d, "model.onnx")));
    await refuses(dir, /model\.onnx: missing \(oar_inference\.json names it as graph\.file\); export the model again$/);
  });

  it("a missing model.onnx.data", async () => {
    const dir = await broken((d) => fs.rmSync(path.join(d, "model.onnx.data")), { externalDataBytes: 1 });
    await refuses(dir, /model\.onnx\.data: missing \(oar_inference\.json names it as graph\.external_data\)/);
  });

  it("a manifest without the KV interface", async () => {
    const dir = await broken((d) => editManifest(d, (m) => delete (m["kv_cache"] as Record<string, unknown>)["io"]));
    await refuses(dir, /oar_inference\.json: kv_cache\.io must be "present" or "present\+new" or "blocks", got nothing/);
  });

  it("a prefix file that is gone", async () => {
    const dir = await broken((d) =>
      editManifest(d, (m) => ((m["adapters"] as Record<string, unknown>)["prefix"] = { kv_file: "prefix_kv.safetensors", length: 3 })),
    );
    await refuses(dir, /prefix_kv\.safetensors: missing \(oar_inference\.json names it as adapters\.prefix\.kv_file\)/);
  });

  it("options that do not fit: a batch size of 0, a pool size for a graph without block attention", async () => {
    const dir = await exports.dir(tiny());
    await refuses(dir, /batchSize must be a positive integer, got 0/, { batchSize: 0 });
    await refuses(dir, /numBlocks is for block attention, and .* was exported without it \(--block_attn\)/, { numBlocks: 8 });
  });

  it("--device gpu where onnxruntime-node's CUDA provider is not installed", async (t) => {
    const dir = await exports.dir(tiny());
    const binding = path.join(path.dirname(path.dirname(fileOf("onnxruntime-node"))), "bin", "napi-v6", process.platform, process.arch);
    if (fs.existsSync(path.join(binding, "libonnxruntime_providers_cuda.so"))) {
      t.skip("the CUDA provider is installed here");
      return;
    }
    await refuses(dir, /^--device gpu: onnxruntime-node's CUDA provider is not installed .* or run with --device cpu$/, { device: "gpu" });
  });
});

function fileOf(pkg: string): string {
  return new URL(import.meta.resolve(pkg)).pathname;
}
