import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import type { Tensor } from "@oar/tensor";
import { Graph } from "../ir/graph.js";
import { verify } from "../ir/verify.js";
import { writeModel } from "../onnx/write.js";
import { runPipeline } from "../rewrite/manager.js";
import { maxRelDiff, randomF32, runOrt } from "../testing/ort.js";
import { cleanupPipeline } from "./cleanup.js";
import { constantFolding } from "./constant-folding.js";
import { commonSubexpressionElimination } from "./cse.js";
import { deadCodeElimination } from "./dead-code.js";
import { removeIdentity, removeNoopCast, removeNoopReshape } from "./identity.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-passes-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let runs = 0;

async function run(g: Graph, feeds: Record<string, Tensor>): Promise<Record<string, number[]>> {
  return runOrt(writeModel(g, path.join(root, `m${runs++}`)).modelPath, feeds);
}

const firedBy = (report: ReturnType<typeof runPipeline>) => Object.fromEntries(report.passes.map((p) => [p.pass, p.fired]));

/**
 * The shape arithmetic exporters emit around a reshape of x [2, 3, 8] to
 * [2, 3, 2, 4]: Shape, Gather, Unsqueeze, Concat, plus an Identity, a Cast to
 * the same type, a no-op Reshape, a duplicated Exp and a dead branch.
 */
function shapeArithmetic(): Graph {
  const g = new Graph({ name: "shapes" });
  const x = g.input("x", "f32", [2, 3, 8]);
  const shape = g.op("Shape", [x]);
  const dims = g.op("Gather", [shape, g.int64s([0, 1])], { attrs: { axis: 0 } });
  const heads = g.op("Unsqueeze", [g.op("Div", [g.scalar(8, "i64"), g.scalar(4, "i64")]), g.int64s([0])]);
  const target = g.op("Concat", [dims, heads, g.int64s([-1])], { attrs: { axis: 0 } });
  const split = g.op("Reshape", [g.op("Identity", [x]), target], { shape: [2, 3, 2, 4] });
  const same = g.op("Reshape", [split, g.int64s([0, 0, 2, 4])]);
  const cast = g.op("Cast", [same], { attrs: { to: "f32" } });
  const e1 = g.op("Exp", [cast]);
  const e2 = g.op("Exp", [cast]);
  g.op("Neg", [e1], { name: "dead" });
  g.output(g.op("Add", [e1, e2]), "y");
  return g;
}

const feeds = { x: { dtype: "f32", shape: [2, 3, 8], data: randomF32(48, 11) } as Tensor };

describe("generic passes", () => {
  it("fold the shape arithmetic, drop no-ops, merge duplicates, sweep dead code; outputs stay equal", async () => {
    const g = shapeArithmetic();
    const before = await run(g, feeds);
    const report = runPipeline(g, cleanupPipeline(), { verify: true });
    assert.deepEqual(firedBy(report), {
      "constant-folding": 5,
      "remove-identity": 1,
      "remove-noop-reshape": 1,
      "remove-noop-cast": 1,
      "common-subexpression-elimination": 1,
      "dead-code-elimination": 11,
    });
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["Reshape", "Exp", "Add"],
    );
    const target = g.nodes[0]!.input(1).initializer!.toTensor();
    assert.deepEqual([...(target.data as BigInt64Array)], [2n, 3n, 2n, -1n]);
    assert.deepEqual(verify(g), []);
    assert.ok(maxRelDiff((await run(g, feeds)).y!, before.y!) < 1e-6);
  });

  it("fold only small results", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [1]);
    const big = g.op("Range", [g.scalar(0, "f32"), g.scalar(10000, "f32"), g.scalar(1, "f32")]);
    const small = g.op("Range", [g.scalar(0, "f32"), g.scalar(4, "f32"), g.scalar(1, "f32")]);
    g.output(g.op("Add", [x, g.op("ReduceSum", [big, g.int64s([0])], { attrs: { keepdims: 1 } })]), "a");
    g.output(g.op("Add", [x, g.op("ReduceSum", [small, g.int64s([0])], { attrs: { keepdims: 1 } })]), "b");
    const report = runPipeline(g, { name: "fold", passes: [constantFolding({ maxElements: 100 })] }, { verify: true });
    assert.equal(report.passes[0]!.fired, 1);
    assert.equal(g.nodes.filter((n) => n.is("Range")).length, 1);
  });

  it("explain why a fold was declined", () => {
    const g = new Graph();
    const x = g.input("x", "i64", [2]);
    const q = g.op("Div", [g.int64s([1, 2]), g.int64s([1, 0])], { name: "div_by_zero" });
    g.output(g.op("Add", [x, q]), "y");
    const report = runPipeline(g, { name: "fold", passes: [constantFolding()] });
    assert.deepEqual(report.passes[0]!.reasons, [{ reason: "integer division by zero", count: 1, nodes: ["div_by_zero"] }]);
  });

  it("keep an Identity whose removal would rename a graph input, and say why", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    g.output(g.op("Identity", [x], { name: "passthrough" }), "y");
    const report = runPipeline(g, { name: "identity", passes: [removeIdentity] }, { verify: true });
    assert.equal(report.passes[0]!.fired, 0);
    assert.deepEqual(report.passes[0]!.reasons, [
      { reason: "graph output 'y' cannot become 'x', which is a graph input", count: 1, nodes: ["passthrough"] },
    ]);
  });

  it("leave real casts and reshapes alone without reporting them", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2, 4]);
    g.output(g.op("Reshape", [g.op("Cast", [x], { attrs: { to: "f16" } }), g.int64s([8])]), "y");
    const report = runPipeline(g, { name: "noops", passes: [removeNoopCast, removeNoopReshape] });
    assert.deepEqual(
      report.passes.map((p) => [p.fired, p.rejected]),
      [
        [0, 0],
        [0, 0],
      ],
    );
  });

  it("merge equal small initializers and commutative duplicates", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [3]);
    const c1 = g.initializer({ dtype: "f32", shape: [3], data: Float32Array.of(1, 2, 3) });
    const c2 = g.initializer({ dtype: "f32", shape: [3], data: Float32Array.of(1, 2, 3) });
    const a = g.op("Add", [x, c1]);
    const b = g.op("Add", [c2, x]);
    g.output(g.op("Mul", [a, b]), "y");
    const report = runPipeline(g, { name: "cse", passes: [commonSubexpressionElimination, deadCodeElimination] }, { verify: true });
    assert.equal(report.passes[0]!.fired, 2);
    assert.equal(g.initializers.length, 1);
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["Add", "Mul"],
    );
  });
});
