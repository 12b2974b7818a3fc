import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import type { Tensor } from "@oar/tensor";
import { constantValue } from "../ir/constant.js";
import { Graph } from "../ir/graph.js";
import { Sym } from "../ir/shape.js";
import { verify } from "../ir/verify.js";
import { writeModel } from "../onnx/write.js";
import { maxRelDiff, randomF32, runOrt } from "../testing/ort.js";
import { runPipeline } from "./manager.js";
import { accept, defineRule, noMatch, reject } from "./rule.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-rules-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let runs = 0;

/** Runs the graph on onnxruntime (written to a fresh directory) and returns its outputs. */
async function run(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, number[]>> {
  return runOrt(writeModel(g, path.join(root, `m${runs++}`)).modelPath, feeds);
}

/** The demo rule: Mul(x, Reciprocal(y)) -> Div(x, y). */
const mulReciprocalToDiv = defineRule({
  name: "mul-reciprocal-to-div",
  vars: ["x", "y"],
  pattern: (p, { x, y }) => p.op("Mul", [x, p.op("Reciprocal", [y])]),
  check: (m) => accept({ x: m.vars.x, y: m.vars.y }),
  rewrite: (b, { x, y }) => b.op("Div", [x, y]),
});

function divisionGraph(): Graph {
  const g = new Graph({ name: "division" });
  const x = g.input("x", "f32", ["batch", 8]);
  const y = g.input("y", "f32", ["batch", 8]);
  const w = g.initializer({ dtype: "f32", shape: [8], data: randomF32(8, 3).map((v) => v + 2) }, { name: "w" });
  const a = g.op("Mul", [x, g.op("Reciprocal", [y])], { name: "x_over_y" });
  const b = g.op("Mul", [g.op("Reciprocal", [w]), a], { name: "a_over_w" });
  g.output(g.op("Softmax", [b], { attrs: { axis: -1 } }), "out");
  return g;
}

const divisionFeeds = {
  x: { dtype: "f32", shape: [2, 8], data: randomF32(16, 5) } as Tensor,
  y: { dtype: "f32", shape: [2, 8], data: randomF32(16, 6).map((v) => v + 3) } as Tensor,
};

describe("patterns", () => {
  it("match Mul in both operand orders", () => {
    const g = divisionGraph();
    const muls = g.nodes.filter((n) => n.is("Mul"));
    assert.equal(muls.length, 2);
    assert.equal(muls[0]!.inputs[1]!.node!.opType, "Reciprocal", "Mul(x, Reciprocal(y))");
    assert.equal(muls[1]!.inputs[0]!.node!.opType, "Reciprocal", "Mul(Reciprocal(w), a)");
    for (const m of muls) assert.deepEqual(mulReciprocalToDiv.explain(m), { ok: true });
  });

  it("bind a variable used twice to one value only", () => {
    const square = defineRule({
      name: "mul-self-to-pow",
      vars: ["x"],
      pattern: (p, { x }) => p.op("Mul", [x, x]),
      check: (m) => accept(m.vars.x),
      rewrite: (b, x) => b.op("Pow", [x, b.scalar(2, "f32")]),
    });
    const g = new Graph();
    const a = g.input("a", "f32", [4]);
    const c = g.input("c", "f32", [4]);
    const same = g.op("Mul", [a, a]);
    const different = g.op("Mul", [a, c]);
    assert.deepEqual(square.explain(same.node!), { ok: true });
    assert.equal(square.explain(different.node!), null);
  });

  it("match alternatives and constants: Sqrt(Pow(x, 2)) and Sqrt(Mul(x, x)) both become Abs(x)", async () => {
    const sqrtOfSquare = defineRule({
      name: "sqrt-of-square",
      vars: ["x"],
      pattern: (p, { x }) => p.op("Sqrt", [p.oneOf(p.op("Pow", [x, 2]), p.op("Mul", [x, x]))]),
      check: (m) => accept(m.vars.x),
      rewrite: (b, x) => b.op("Abs", [x]),
    });
    const g = new Graph();
    const x = g.input("x", "f32", [6]);
    const viaPow = g.op("Sqrt", [g.op("Pow", [x, g.scalar(2, "f32")])]);
    const viaMul = g.op("Sqrt", [g.op("Mul", [x, x])]);
    const notSquare = g.op("Sqrt", [g.op("Pow", [x, g.scalar(3, "f32")])]);
    g.output(g.op("Add", [g.op("Add", [viaPow, viaMul]), notSquare]), "y");
    const feeds = { x: { dtype: "f32", shape: [6], data: Float32Array.of(1, 2, 3, 0.5, 4, 9) } as Tensor };
    const before = await run(g, feeds);
    const report = runPipeline(g, { name: "square", passes: [sqrtOfSquare] }, { verify: true });
    assert.equal(report.passes[0]!.fired, 2);
    assert.equal(g.nodes.filter((n) => n.is("Abs")).length, 2);
    assert.equal(g.nodes.filter((n) => n.is("Sqrt")).length, 1);
    assert.ok(maxRelDiff((await run(g, feeds)).y!, before.y!) < 1e-6);
  });

  it("match several outputs that share a variable: two MatMuls of one input become one MatMul and a Split", async () => {
    const mergeMatMuls = defineRule({
      name: "merge-sibling-matmuls",
      vars: ["x", "a", "b"],
      pattern: (p, { x, a, b }) => [p.op("MatMul", [x, a]), p.op("MatMul", [x, b])],
      check: (m) => {
        const a = constantValue(m.vars.a);
        const b = constantValue(m.vars.b);
        if (a === null || b === null) return noMatch();
        if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== b.shape[0]) return reject("weights of different K");
        return accept({ x: m.vars.x, a: m.vars.a, b: m.vars.b, n: [a.shape[1]!, b.shape[1]!] });
      },
      rewrite: (bld, { x, a, b, n }) => {
        const w = bld.op("Concat", [a, b], { attrs: { axis: 1 } });
        const split = bld.node("Split", [bld.op("MatMul", [x, w]), bld.int64s(n)], { attrs: { axis: -1 }, outputs: 2 });
        return [split.output(0), split.output(1)];
      },
    });
    const g = new Graph();
    const x = g.input("x", "f32", ["batch", 4]);
    const wa = g.initializer({ dtype: "f32", shape: [4, 3], data: randomF32(12, 1) }, { name: "wa" });
    const wb = g.initializer({ dtype: "f32", shape: [4, 5], data: randomF32(20, 2) }, { name: "wb" });
    g.output(g.op("MatMul", [x, wa], { name: "qa" }), "ya");
    g.output(g.op("MatMul", [x, wb], { name: "qb" }), "yb");
    const feeds = { x: { dtype: "f32", shape: [2, 4], data: randomF32(8, 3) } as Tensor };
    const before = await run(g, feeds);
    const report = runPipeline(g, { name: "merge", passes: [mergeMatMuls] }, { verify: true });
    assert.equal(report.passes[0]!.fired, 1);
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["Concat", "MatMul", "Split"],
    );
    assert.deepEqual(g.outputs.map((o) => [o.name, o.shape]), [
      ["ya", ["batch", 3]],
      ["yb", ["batch", 5]],
    ]);
    const after = await run(g, feeds);
    assert.ok(maxRelDiff(after.ya!, before.ya!) < 1e-6);
    assert.ok(maxRelDiff(after.yb!, before.yb!) < 1e-6);
  });

  it("match ops with several outputs: Concat(Split(x)) on the same axis is x", async () => {
    const splitConcat = defineRule({
      name: "split-concat",
      vars: ["x", "sizes"],
      pattern: (p, { x, sizes }) => {
        const [a, b] = p.opOutputs("Split", [x, sizes], { outputs: 2 });
        return p.op("Concat", [a!, b!]);
      },
      check: (m) => {
        const split = m.nodes.find((n) => n.is("Split"))!;
        const concat = m.nodes[0]!;
        return split.int("axis", 0) === concat.int("axis") ? accept(m.vars.x) : reject("different axes");
      },
      rewrite: (_, x) => x,
    });
    const g = new Graph();
    const x = g.input("x", "f32", [Sym.batch, 6]);
    const halves = () => g.node("Split", [x, g.int64s([2, 4])], { attrs: { axis: 1 }, outputs: 2 });
    const s1 = halves();
    const same = g.op("Concat", [s1.output(0), s1.output(1)], { attrs: { axis: 1 } });
    const s2 = halves();
    const other = g.op("Concat", [s2.output(0), s2.output(1)], { attrs: { axis: 0 }, name: "stacked" });
    g.output(g.op("Relu", [same]), "y");
    g.output(other, "z");
    assert.deepEqual(splitConcat.explain(same.node!), { ok: true });
    assert.deepEqual(splitConcat.explain(other.node!), { ok: false, reason: "different axes" });
  });

  it("refuse at definition a variable declared but not used", () => {
    assert.throws(
      () =>
        defineRule({
          name: "unused-var",
          vars: ["x", "y"],
          pattern: (p, { x }) => p.op("Relu", [x]),
          check: (m) => accept(m.vars.x),
          rewrite: (_, x) => x,
        }),
      /rule 'unused-var': variable y declared but not in the pattern/,
    );
  });
});

describe("pass manager", () => {
  it("applies the demo rule end to end: fire count, verify after every pass, outputs equal on onnxruntime", async () => {
    const g = divisionGraph();
    const before = await run(g, divisionFeeds);
    const report = runPipeline(g, { name: "demo", passes: [mulReciprocalToDiv] }, { verify: true });
    assert.deepEqual(report, {
      pipeline: "demo",
      iterations: 2,
      passes: [{ pass: "mul-reciprocal-to-div", fired: 2, rejected: 0, reasons: [] }],
    });
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["Div", "Div", "Softmax"],
    );
    assert.deepEqual(verify(g), []);
    assert.ok(maxRelDiff((await run(g, divisionFeeds)).out!, before.out!) < 1e-6);
  });

  it("reports rejections with their reasons once per node, and declines a match whose intermediate escapes", () => {
    const onlyWide = defineRule({
      name: "mul-reciprocal-to-div-wide",
      vars: ["x", "y", "r"],
      pattern: (p, { x, y, r }) => p.op("Mul", [x, p.op("Reciprocal", [y], { as: r })]),
      check: (m) => {
        const width = m.vars.x.shape?.at(-1);
        if (width !== 16) return reject(`last dimension ${String(width)} is not 16`);
        return accept({ x: m.vars.x, y: m.node("r").input(0) });
      },
      rewrite: (b, { x, y }) => b.op("Div", [x, y]),
    });
    const g = divisionGraph();
    const shared = g.op("Reciprocal", [g.inputs[0]!], { name: "shared" });
    const escaped = g.op("Mul", [g.inputs[1]!, shared], { name: "uses_shared" });
    g.output(g.op("Add", [escaped, shared]), "other");
    const report = runPipeline(g, { name: "wide", passes: [onlyWide] }, { verify: true });
    const stats = report.passes[0]!;
    assert.equal(stats.fired, 0);
    assert.equal(stats.rejected, 3);
    assert.deepEqual(stats.reasons, [
      { reason: "last dimension 8 is not 16", count: 2, nodes: ["x_over_y", "a_over_w"] },
      { reason: "intermediate 'shared' is also used by Add 'Add'", count: 1, nodes: ["uses_shared"] },
    ]);
  });

  it("stops a pipeline whose rules undo each other, naming them", () => {
    const reluToAbs = defineRule({
      name: "relu-to-abs",
      vars: ["x"],
      pattern: (p, { x }) => p.op("Relu", [x]),
      check: (m) => accept(m.vars.x),
      rewrite: (b, x) => b.op("Abs", [x]),
    });
    const absToRelu = defineRule({
      name: "abs-to-relu",
      vars: ["x"],
      pattern: (p, { x }) => p.op("Abs", [x]),
      check: (m) => accept(m.vars.x),
      rewrite: (b, x) => b.op("Relu", [x]),
    });
    const g = new Graph();
    g.output(g.op("Relu", [g.input("x", "f32", [2])]), "y");
    assert.throws(
      () => runPipeline(g, { name: "loop", passes: [reluToAbs, absToRelu] }, { maxIterations: 5 }),
      /pipeline 'loop' still changed the graph after 5 iterations \(in the last: relu-to-abs, abs-to-relu\)/,
    );
  });
});
