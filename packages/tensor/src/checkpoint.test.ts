import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { describingBytes, openCheckpoint } from "./checkpoint.js";
import { GOLDENS } from "./testing/goldens.js";
import { writeSafetensors } from "./safetensors.js";
import { type Tensor, tensor } from "./tensor.js";

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-checkpoint-"));
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

const vec = (...xs: number[]): Tensor => tensor("f32", [xs.length], new Float32Array(xs));

/** A fresh directory holding the given shards (file -> tensors) and, when given, an index. */
function checkpoint(shards: Record<string, Record<string, Tensor>>, index?: unknown): string {
  const dir = fs.mkdtempSync(path.join(root, "ckpt-"));
  for (const [file, tensors] of Object.entries(shards)) writeSafetensors(path.join(dir, file), tensors, { format: "pt", shard: file });
  if (index !== undefined) {
    fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), typeof index === "string" ? index : JSON.stringify(index));
  }
  return dir;
}

const twoShards = {
  "model-00001-of-00002.safetensors": { "model.embed_tokens.weight": vec(1, 2), "model.layers.0.w": vec(3) },
  "model-00002-of-00002.safetensors": { "model.norm.weight": vec(4, 5, 6), "lm_head.weight": vec(7) },
};
const twoShardIndex = {
  metadata: { total_size: 28 },
  weight_map: {
    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
    "model.layers.0.w": "model-00001-of-00002.safetensors",
    "model.norm.weight": "model-00002-of-00002.safetensors",
    "lm_head.weight": "model-00002-of-00002.safetensors",
  },
};

describe("openCheckpoint", () => {
  it("reads a sharded checkpoint through its index", () => {
    const dir = checkpoint(twoShards, twoShardIndex);
    const src = openCheckpoint(dir);
    try {
      assert.deepEqual(src.names, ["lm_head.weight", "model.embed_tokens.weight", "model.layers.0.w", "model.norm.weight"]);
      assert.deepEqual([...src.read("model.norm.weight").data], [4, 5, 6]);
      assert.deepEqual([...src.read("model.embed_tokens.weight").data], [1, 2]);
      assert.equal(src.info("lm_head.weight").file, path.join(dir, "model-00002-of-00002.safetensors"));
      const raw = new Uint8Array(new SharedArrayBuffer(4));
      src.readInto("model.layers.0.w", raw);
      assert.deepEqual(new Float32Array(raw.buffer), new Float32Array([3]));
      assert.deepEqual({ ...src.metadata }, { format: "pt", shard: "model-00002-of-00002.safetensors", total_size: "28" });
      assert.throws(() => src.info("missing"), new RegExp(`${dir}/model\\.safetensors\\.index\\.json: no tensor named "missing"`));
    } finally {
      src.close();
    }
  });

  it("prefers model.safetensors, then the index, then a lone .safetensors file; a file path opens that file", () => {
    const both = checkpoint({ "model.safetensors": { a: vec(1) }, "model-00001-of-00001.safetensors": { b: vec(2) } }, { weight_map: { b: "model-00001-of-00001.safetensors" } });
    const s1 = openCheckpoint(both);
    assert.deepEqual(s1.names, ["a"]);
    s1.close();
    const lone = checkpoint({ "adapter_model.safetensors": { lora: vec(1, 2) } });
    const s2 = openCheckpoint(lone);
    assert.deepEqual(s2.names, ["lora"]);
    s2.close();
    const s3 = openCheckpoint(path.join(lone, "adapter_model.safetensors"));
    assert.deepEqual(s3.names, ["lora"]);
    s3.close();
  });

  const errors: { name: string; make: () => string; error: (dir: string) => RegExp }[] = [
    { name: "a missing directory", make: () => path.join(root, "nope"), error: (d) => new RegExp(`^${d}: cannot open checkpoint`) },
    { name: "a directory without weights", make: () => checkpoint({}), error: (d) => new RegExp(`^${d}: no weights: none of model\\.safetensors, model\\.safetensors\\.index\\.json, pytorch_model\\.bin, pytorch_model\\.bin\\.index\\.json, model_state\\.pdparams, model_state\\.pdparams\\.index\\.json`) },
    { name: "several weight files and no index", make: () => checkpoint({ "a.safetensors": {}, "b.safetensors": {} }), error: (d) => new RegExp(`^${d}: 2 \\.safetensors files \\(a\\.safetensors, b\\.safetensors\\) but no model\\.safetensors`) },
    { name: "an index that is not JSON", make: () => checkpoint(twoShards, "{"), error: () => /model\.safetensors\.index\.json: not valid JSON/ },
    { name: "an index without weight_map", make: () => checkpoint(twoShards, { metadata: {} }), error: () => /index\.json: expected an object with a "weight_map" object/ },
    {
      name: "a weight_map entry that is a path",
      make: () => checkpoint(twoShards, { weight_map: { ...twoShardIndex.weight_map, "lm_head.weight": "../model-00002-of-00002.safetensors" } }),
      error: () => /index\.json: weight_map maps tensor "lm_head\.weight" to "\.\.\/model-00002-of-00002\.safetensors", not a file name in the checkpoint directory/,
    },
    {
      name: "a missing shard",
      make: () => checkpoint(twoShards, { weight_map: { ...twoShardIndex.weight_map, "extra.weight": "model-00003-of-00003.safetensors" } }),
      error: () => /index\.json: weight_map puts tensor "extra\.weight" in shard model-00003-of-00003\.safetensors, which does not exist/,
    },
    {
      name: "a tensor its shard does not hold",
      make: () => checkpoint(twoShards, { weight_map: { ...twoShardIndex.weight_map, "model.layers.1.w": "model-00001-of-00002.safetensors" } }),
      error: () => /index\.json: weight_map puts tensor "model\.layers\.1\.w" in shard model-00001-of-00002\.safetensors, which does not hold it/,
    },
    {
      name: "a tensor in another shard than weight_map says",
      make: () => checkpoint(twoShards, { weight_map: { ...twoShardIndex.weight_map, "lm_head.weight": "model-00001-of-00002.safetensors" } }),
      error: () => /index\.json: weight_map puts tensor "lm_head\.weight" in model-00001-of-00002\.safetensors, but it is in shard model-00002-of-00002\.safetensors/,
    },
    {
      name: "a tensor in two shards",
      make: () =>
        checkpoint(
          { "s1.safetensors": { a: vec(1), dup: vec(2) }, "s2.safetensors": { dup: vec(3) } },
          { weight_map: { a: "s1.safetensors", dup: "s2.safetensors" } },
        ),
      error: () => /index\.json: tensor "dup" is in two shards, s1\.safetensors and s2\.safetensors/,
    },
    {
      name: "a shard tensor weight_map does not list",
      make: () => checkpoint({ "s1.safetensors": { a: vec(1), b: vec(2) } }, { weight_map: { a: "s1.safetensors" } }),
      error: () => /index\.json: shard s1\.safetensors holds tensor "b", which weight_map does not list/,
    },
    {
      name: "a malformed shard",
      make: () => {
        const dir = checkpoint(twoShards, twoShardIndex);
        fs.writeFileSync(path.join(dir, "model-00002-of-00002.safetensors"), "short");
        return dir;
      },
      error: () => /model-00002-of-00002\.safetensors: file is 5 bytes/,
    },
  ];
  for (const c of errors) {
    it(`rejects ${c.name}`, () => {
      const dir = c.make();
      assert.throws(() => openCheckpoint(dir), (e: Error) => {
        assert.match(e.message, c.error(dir));
        return true;
      });
    });
  }

  /** A fresh directory with these golden files copied in, under the names given. */
  function withFiles(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(root, "formats-"));
    for (const [name, from] of Object.entries(files)) fs.copyFileSync(path.join(GOLDENS, from), path.join(dir, name));
    return dir;
  }

  it("opens pytorch_model.bin and model_state.pdparams directories, and such files by path", () => {
    const bin = withFiles({ "pytorch_model.bin": "qwen2-pytorch/pytorch_model.bin", "training_args.bin": "qwen2-pytorch/pytorch_model.bin" });
    const s1 = openCheckpoint(bin);
    assert.equal(s1.format, "pytorch");
    assert.equal(s1.index, null);
    assert.ok(s1.has("model.embed_tokens.weight"));
    s1.close();
    const pd = withFiles({ "model_state.pdparams": "qwen2-pdparams/model_state.pdparams" });
    const s2 = openCheckpoint(path.join(pd, "model_state.pdparams"));
    assert.equal(s2.format, "pdparams");
    assert.ok(s2.has("qwen2.embed_tokens.weight"));
    s2.close();
  });

  it("refuses a directory holding two formats' weights, naming them", () => {
    const dir = withFiles({ "pytorch_model.bin": "qwen2-pytorch/pytorch_model.bin", "model_state.pdparams": "qwen2-pdparams/model_state.pdparams" });
    fs.copyFileSync(path.join(dir, "pytorch_model.bin"), path.join(dir, "stray.safetensors"));
    assert.throws(
      () => openCheckpoint(dir),
      new RegExp(`${dir}: holds weights in 3 formats: safetensors \\(stray\\.safetensors\\); pytorch \\(pytorch_model\\.bin\\); pdparams \\(model_state\\.pdparams\\); keep one format's files`),
    );
  });

  it("reads the safetensors of a download that also holds pytorch_model.bin, as transformers does", () => {
    const dir = withFiles({ "pytorch_model.bin": "qwen2-pytorch/pytorch_model.bin", "model_state.pdparams": "qwen2-pdparams/model_state.pdparams" });
    fs.rmSync(path.join(dir, "model_state.pdparams"));
    writeSafetensors(path.join(dir, "model.safetensors"), { "model.norm.weight": tensor("f32", [2], new Float32Array([1, 2])) });
    const s = openCheckpoint(dir);
    assert.equal(s.format, "safetensors");
    assert.deepEqual(s.names, ["model.norm.weight"]);
    s.close();
  });

  it("refuses an index that lists a shard of another format", () => {
    const dir = withFiles({ "weights.pdparams": "qwen2-pdparams/model_state.pdparams" });
    fs.writeFileSync(path.join(dir, "pytorch_model.bin.index.json"), JSON.stringify({ weight_map: { w: "weights.pdparams" } }));
    assert.throws(() => openCheckpoint(dir), /pytorch_model\.bin\.index\.json: weight_map puts tensor "w" in weights\.pdparams, which is not a pytorch file like the index \(a mixed checkpoint\)/);
  });

  it("names the bytes that describe each format's files", () => {
    const size = (f: string) => fs.statSync(path.join(GOLDENS, f)).size;
    const st = describingBytes(path.join(GOLDENS, "qwen2-paddle-safetensors", "model-00001-of-00002.safetensors"), "safetensors");
    assert.equal(st.start, 0);
    assert.ok(st.end > 8 && st.end < size("qwen2-paddle-safetensors/model-00001-of-00002.safetensors"));
    const pt = describingBytes(path.join(GOLDENS, "qwen2-pytorch", "pytorch_model.bin"), "pytorch");
    assert.ok(pt.start > 100_000 && pt.end === size("qwen2-pytorch/pytorch_model.bin"), "the zip's directory, at its end");
    assert.deepEqual(describingBytes(path.join(GOLDENS, "qwen2-pdparams", "model_state.pdparams"), "pdparams"), { start: 0, end: size("qwen2-pdparams/model_state.pdparams") });
  });
});
