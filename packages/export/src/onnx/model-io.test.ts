import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { type DType, type Tensor, allocData, numel, openSafetensors, writeSafetensors } from "@oar/tensor";
import { intAttr } from "../ir/attributes.js";
import { formatGraph } from "../ir/format.js";
import { Graph } from "../ir/graph.js";
import { checkpointTensor, fileRangeSource } from "../ir/initializer.js";
import { verify } from "../ir/verify.js";
import { maxRelDiff, randomF32, runOrt } from "../testing/ort.js";
import { OnnxFileError, readModel } from "./read.js";
import { writeModel } from "./write.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-model-io-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => path.join(root, `d${dirs++}`);

/** x [batch, 16] -> MatMul(w [16, 8]) -> Add(b [8]) -> Softmax. */
function tinyModel(): Graph {
  const g = new Graph({ name: "tiny" });
  const x = g.input("x", "f32", ["batch", 16]);
  const w = g.initializer({ dtype: "f32", shape: [16, 8], data: randomF32(128, 7) }, { name: "w" });
  const b = g.initializer({ dtype: "f32", shape: [8], data: randomF32(8, 8) }, { name: "b" });
  const y = g.op("Add", [g.op("MatMul", [x, w], { name: "proj" }), b], { name: "bias" });
  g.output(g.op("Softmax", [y], { attrs: { axis: -1 }, name: "softmax" }), "probs");
  g.metadata.set("source", "test");
  return g;
}

const feeds = { x: { dtype: "f32", shape: [3, 16], data: randomF32(48, 9) } as Tensor };

describe("writeModel / readModel", () => {
  it("round-trips a small graph that onnxruntime runs the same before and after", async () => {
    const g = tinyModel();
    const first = writeModel(g, freshDir());
    assert.equal(first.dataPath, null);
    const back = readModel(first.modelPath);
    assert.deepEqual(verify(back), []);
    assert.deepEqual(
      back.nodes.map((n) => n.describe()),
      ["MatMul 'proj'", "Add 'bias'", "Softmax 'softmax'"],
    );
    assert.deepEqual(back.outputs[0]!.shape, ["batch", 8]);
    assert.deepEqual(back.nodes[2]!.attribute("axis"), { type: "int", value: -1 });
    assert.equal(back.metadata.get("source"), "test");
    const second = writeModel(back, freshDir());
    const a = await runOrt(first.modelPath, feeds);
    const b = await runOrt(second.modelPath, feeds);
    assert.equal(a.probs!.length, 24);
    assert.ok(maxRelDiff(a.probs!, b.probs!) === 0);
  });

  it("writes external data when asked, aligned, and onnxruntime loads it; reading keeps it lazy", async () => {
    const g = tinyModel();
    const dir = freshDir();
    const r = writeModel(g, dir, { externalData: "always", dataFileName: "model.onnx_data", sizeThreshold: 256 });
    assert.equal(r.externalTensors, 1, "w (512 bytes) goes out; b (32 bytes) is under the threshold");
    assert.equal(fs.existsSync(path.join(dir, "model.onnx_data")), true);
    const all = writeModel(g, freshDir(), { externalData: "always", sizeThreshold: 0 });
    assert.equal(all.externalTensors, 2);
    assert.equal(fs.statSync(all.dataPath!).size, 512 + 32);
    const back = readModel(all.modelPath);
    for (const v of back.initializers) assert.equal(v.initializer!.data.kind, "lazy");
    const expected = await runOrt(writeModel(g, freshDir()).modelPath, feeds);
    const got = await runOrt(all.modelPath, feeds);
    assert.ok(maxRelDiff(got.probs!, expected.probs!) === 0);
    const rewritten = writeModel(back, freshDir(), { externalData: "never" });
    assert.ok(maxRelDiff((await runOrt(rewritten.modelPath, feeds)).probs!, expected.probs!) === 0);
  });

  it("keeps every supported element type's bytes through a round trip", () => {
    const dtypes: DType[] = ["f32", "f16", "bf16", "f64", "i8", "u8", "i16", "i32", "i64", "bool"];
    const g = new Graph();
    const x = g.input("x", "f32", [1]);
    const inits = dtypes.map((dtype) => {
      const data = allocData(dtype, 6);
      const bytes = new Uint8Array(data.buffer);
      bytes.forEach((_, i) => (bytes[i] = dtype === "bool" ? i % 2 : (i * 37 + 11) & 0xff));
      return g.initializer({ dtype, shape: [2, 3], data }, { name: `t_${dtype}` });
    });
    g.output(g.op("Identity", [x]), "y");
    for (const [i, v] of inits.entries()) g.output(g.op("Identity", [v]), `o_${dtypes[i]}`);
    for (const mode of ["never", "always"] as const) {
      const back = readModel(writeModel(g, freshDir(), { externalData: mode, sizeThreshold: 0 }).modelPath);
      for (const [i, v] of inits.entries()) {
        const read = back.value(v.name)!;
        assert.equal(read.dtype, dtypes[i]);
        assert.deepEqual(read.initializer!.shape, [2, 3]);
        assert.deepEqual(read.initializer!.bytes(), v.initializer!.bytes(), `${dtypes[i]} (${mode})`);
      }
    }
  });

  it("streams lazy initializers from their sources only when writing", async () => {
    const dir = freshDir();
    fs.mkdirSync(dir, { recursive: true });
    const weights = randomF32(128, 7);
    const ckpt = path.join(dir, "weights.safetensors");
    writeSafetensors(ckpt, { "proj.weight": { dtype: "f32", shape: [16, 8], data: weights } });
    const rawBias = path.join(dir, "bias.bin");
    fs.writeFileSync(rawBias, new Uint8Array(randomF32(8, 8).buffer));
    let biasReads = 0;
    const biasSource = fileRangeSource({ path: rawBias, offset: 0, length: 32 });
    const counted = {
      description: "bias.bin",
      *chunks() {
        biasReads++;
        yield* biasSource.chunks();
      },
    };
    const source = openSafetensors(ckpt);
    try {
      const g = new Graph({ name: "lazy" });
      const x = g.input("x", "f32", ["batch", 16]);
      const w = g.initializer(checkpointTensor(source, "proj.weight"), { name: "w" });
      const b = g.initializer({ dtype: "f32", shape: [8], source: counted }, { name: "b" });
      g.output(g.op("Softmax", [g.op("Add", [g.op("MatMul", [x, w]), b])], { attrs: { axis: -1 } }), "probs");
      assert.equal(biasReads, 0);
      const r = writeModel(g, path.join(dir, "out"), { externalData: "always", sizeThreshold: 0 });
      assert.equal(biasReads, 1);
      const expected = await runOrt(writeModel(tinyModel(), freshDir()).modelPath, feeds);
      assert.ok(maxRelDiff((await runOrt(r.modelPath, feeds)).probs!, expected.probs!) === 0);
    } finally {
      source.close();
    }
  });

  it("leaves nothing behind when a lazy source fails mid-write", () => {
    const g = tinyModel();
    const dir = freshDir();
    writeModel(g, dir);
    const before = fs.readFileSync(path.join(dir, "model.onnx"));
    const x = g.inputs[0]!;
    const bad = g.initializer(
      { dtype: "f32", shape: [16], source: { description: "a source that stops early", *chunks() { yield new Uint8Array(8); } } },
      { name: "bad" },
    );
    g.output(g.op("Add", [x, bad]), "extra");
    assert.throws(
      () => writeModel(g, dir, { externalData: "always", sizeThreshold: 0 }),
      /initializer 'bad' \(a source that stops early\): .*produced 8 bytes, but a f32 tensor of shape \[16\] is 64 bytes/,
    );
    assert.deepEqual(fs.readdirSync(dir), ["model.onnx"], "no data file and no temporary files");
    assert.deepEqual(fs.readFileSync(path.join(dir, "model.onnx")), before, "the earlier model is untouched");
  });
});

describe("ops outside the default domain", () => {
  it("writes an integer-valued float attribute of a com.microsoft op as a float, which onnxruntime requires", async () => {
    const g = new Graph();
    const x = g.input("x", "f32", [5]);
    g.output(g.op("QuickGelu", [x], { attrs: { alpha: 2 } }), "y");
    assert.deepEqual(g.nodes[0]!.attribute("alpha"), { type: "float", value: 2 });
    const data = Float32Array.of(-2, -0.5, 0, 0.5, 2);
    const r = writeModel(g, freshDir());
    const got = (await runOrt(r.modelPath, { x: { dtype: "f32", shape: [5], data } })).y!;
    const want = [...data].map((v) => v / (1 + Math.exp(-2 * v)));
    assert.ok(maxRelDiff(got, want) < 1e-5);
    const back = readModel(r.modelPath);
    assert.equal(back.nodes[0]!.opType, "QuickGelu");
    assert.equal(back.nodes[0]!.domain, "com.microsoft");
    assert.equal(back.opsets.get("com.microsoft"), 1);
  });

  it("carries an op the IR does not know as a foreign op, attributes and all", async () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2, 3]);
    const n = g.foreignNode("ai.onnx::Hardmax", [x], { attributes: { axis: intAttr(-1) }, name: "hardmax" });
    n.output(0).dtype = "f32";
    n.output(0).shape = [2, 3];
    g.output(n.output(0), "y");
    const r = writeModel(g, freshDir());
    const back = readModel(r.modelPath);
    assert.equal(back.nodes[0]!.opType, "ai.onnx::Hardmax");
    assert.deepEqual(back.nodes[0]!.attribute("axis"), { type: "int", value: -1 });
    assert.match(formatGraph(back), /node {3}y: f32 \[2, 3\] = ai\.onnx::Hardmax 'hardmax'\(x\) axis=-1/);
    const got = (await runOrt(writeModel(back, freshDir()).modelPath, { x: { dtype: "f32", shape: [2, 3], data: Float32Array.of(1, 3, 2, 0, -1, 5) } })).y!;
    assert.deepEqual(got, [0, 1, 0, 0, 0, 1]);
  });
});

describe("readModel on malformed files", () => {
  it("says a truncated model is truncated", () => {
    const r = writeModel(tinyModel(), freshDir());
    const bytes = fs.readFileSync(r.modelPath);
    const cut = path.join(root, "truncated.onnx");
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.throws(
      () => readModel(cut),
      (e: unknown) => e instanceof OnnxFileError && e.file === cut && /not an ONNX model: .*truncated/.test(e.message),
    );
  });

  it("says a file of random bytes is not ONNX", () => {
    const file = path.join(root, "random.onnx");
    fs.writeFileSync(file, new Uint8Array(randomF32(256, 42).buffer));
    assert.throws(() => readModel(file), (e: unknown) => e instanceof OnnxFileError && /random\.onnx: not an ONNX model/.test(e.message));
  });

  it("names the tensor and the file when external data points past the end of its file", () => {
    const dir = freshDir();
    const r = writeModel(tinyModel(), dir, { externalData: "always", sizeThreshold: 0 });
    const data = fs.readFileSync(r.dataPath!);
    fs.writeFileSync(r.dataPath!, data.subarray(0, data.length - 16));
    assert.throws(
      () => readModel(r.modelPath),
      (e: unknown) =>
        e instanceof OnnxFileError &&
        /tensor 'b' points at bytes 512\.\.544 of external data file .*model\.onnx\.data, which has only 528 bytes/.test(e.message),
    );
  });

  it("refuses external data outside the model's directory", () => {
    const dir = freshDir();
    const r = writeModel(tinyModel(), dir, { externalData: "always", sizeThreshold: 0 });
    const bytes = fs.readFileSync(r.modelPath);
    const patched = Buffer.from(bytes.toString("latin1").replaceAll("model.onnx.data", "../ab.onnx.data"), "latin1");
    fs.writeFileSync(r.modelPath, patched);
    assert.throws(() => readModel(r.modelPath), /external data location "\.\.\/ab\.onnx\.data" is outside the model's directory/);
  });

  it("says so when the file does not exist", () => {
    assert.throws(() => readModel(path.join(root, "absent.onnx")), /absent\.onnx: cannot read the file/);
  });
});

describe("sizes", () => {
  it("puts big initializers outside under auto only when they would not fit, and refuses 'never' past 2 GiB", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [1]);
    const huge = {
      description: "never read",
      *chunks(): Generator<Uint8Array> {
        throw new Error("read");
      },
    };
    const big = g.initializer({ dtype: "f32", shape: [600, 1024, 1024], source: huge }, { name: "big" });
    g.output(g.op("Add", [x, g.op("ReduceSum", [big, g.int64s([0, 1, 2])], { attrs: { keepdims: 0 } })]), "y");
    assert.equal(numel(big.initializer!.shape) * 4 > 2 ** 31, true);
    assert.throws(() => writeModel(g, freshDir(), { externalData: "never" }), /2\.34 GiB of initializers would stay inside the model/);
    assert.throws(() => writeModel(g, freshDir(), { externalData: "auto" }), /initializer 'big' \(never read\): read/);
  });
});
