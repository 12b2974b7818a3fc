import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { readModel } from "../onnx/read.js";
import { onnx } from "../onnx/proto.js";
import { RewriteBuilder } from "./builder.js";
import { Graph } from "./graph.js";
import { verify } from "./verify.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-verify-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const f32 = (name: string, dims: (number | string)[]) => ({
  name,
  type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } },
});

describe("verify", () => {
  it("accepts a well-formed graph", () => {
    const g = new Graph();
    const x = g.input("x", "f32", ["batch", 8]);
    g.output(g.op("Sigmoid", [g.op("Neg", [x])]), "y");
    assert.deepEqual(verify(g), []);
  });

  it("catches a graph that is not topologically ordered, naming the node and value; sortTopologically fixes it", () => {
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: "", version: 17 }],
      graph: {
        name: "reversed",
        input: [f32("x", [2])],
        output: [f32("y", [2])],
        node: [
          { opType: "Neg", name: "second", input: ["t"], output: ["y"] },
          { opType: "Relu", name: "first", input: ["x"], output: ["t"] },
        ],
      },
    }).finish();
    const file = path.join(dir, "reversed.onnx");
    fs.writeFileSync(file, bytes);
    const g = readModel(file);
    const problems = verify(g);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /not topologically ordered: Neg 'second' input 0 't' is produced by Relu 'first', which comes later/);
    g.sortTopologically();
    assert.deepEqual(verify(g), []);
    assert.deepEqual(
      g.nodes.map((n) => n.name),
      ["first", "second"],
    );
  });

  it("catches a dangling input: a value whose producer never joined the graph", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    const y = g.op("Neg", [x], { name: "neg" });
    g.output(y, "y");
    const b = new RewriteBuilder(g);
    const forgotten = b.op("Relu", [x], { name: "forgotten" });
    y.node!.setInput(0, forgotten);
    const problems = verify(g);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /Neg 'neg' input 0 'forgotten' is dangling: its producer Relu 'forgotten' is detached/);
  });

  it("catches declared shapes and dtypes that disagree with the op", () => {
    const g = new Graph();
    const a = g.input("a", "f32", [2, 3]);
    const s = g.op("Sigmoid", [a], { name: "sig" });
    g.output(s, "s");
    s.shape = [3, 2];
    s.dtype = "f16";
    const problems = verify(g);
    assert.ok(problems.some((p) => /Sigmoid 'sig' output 0 's' is declared f16, but its inputs give f32/.test(p)), problems.join("\n"));
    assert.ok(problems.some((p) => /declared \[3, 2\], but its inputs give \[2, 3\]/.test(p)), problems.join("\n"));
  });

  it("catches a MatMul whose inner dimensions were changed after it was built", () => {
    const g = new Graph();
    const a = g.input("a", "f32", ["batch", 4]);
    const w = g.initializer({ dtype: "f32", shape: [4, 2], data: new Float32Array(8) }, { name: "w" });
    g.output(g.op("MatMul", [a, w], { name: "mm" }), "y");
    a.shape = ["batch", 5];
    assert.match(verify(g).join("\n"), /MatMul 'mm': MatMul inner dimensions differ: \[batch, 5\] x \[4, 2\]/);
  });
});
