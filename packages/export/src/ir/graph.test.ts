import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RewriteBuilder } from "./builder.js";
import { Graph } from "./graph.js";
import { verify } from "./verify.js";

function mlp() {
  const g = new Graph({ name: "mlp" });
  const x = g.input("x", "f32", ["batch", 4]);
  const w = g.initializer({ dtype: "f32", shape: [4, 3], data: new Float32Array(12).fill(0.5) }, { name: "w" });
  const b = g.initializer({ dtype: "f32", shape: [3], data: Float32Array.of(1, 2, 3) }, { name: "b" });
  const h = g.op("MatMul", [x, w], { name: "proj" });
  const y = g.op("Add", [h, b], { name: "bias" });
  const out = g.output(g.op("Softmax", [y], { attrs: { axis: -1 } }), "probs");
  return { g, x, w, b, h, y, out };
}

describe("builder", () => {
  it("infers dtypes and symbolic shapes and names values after their nodes", () => {
    const { g, h, y, out } = mlp();
    assert.equal(h.name, "proj");
    assert.equal(h.node?.describe(), "MatMul 'proj'");
    assert.deepEqual(h.shape, ["batch", 3]);
    assert.equal(y.dtype, "f32");
    assert.equal(out.name, "probs");
    assert.deepEqual(verify(g), []);
  });

  it("stores schema-typed attributes with the exact wire type", () => {
    const g = new Graph();
    const q = g.input("qkv", "f32", ["batch", "sequence", 64]);
    const n = g.node("GroupQueryAttention", [q], {
      attrs: { num_heads: 2, kv_num_heads: 1, softcap: 0, scale: 1 },
      outputs: 3,
    });
    assert.deepEqual(n.attribute("softcap"), { type: "float", value: 0 });
    assert.deepEqual(n.attribute("scale"), { type: "float", value: 1 });
    assert.deepEqual(n.attribute("num_heads"), { type: "int", value: 2 });
    assert.equal(g.opsets.get("com.microsoft"), 1);
    assert.deepEqual(n.output(0).shape, ["batch", "sequence", 32]);
    const c = g.op("Cast", [q], { attrs: { to: "f16" } });
    assert.deepEqual(c.node?.attribute("to"), { type: "int", value: 10 });
    assert.equal(c.dtype, "f16");
    assert.throws(() => g.op("Softmax", [q], { attrs: { axis: 1.5 } }), /must be an integer/);
  });

  it("refuses inputs that do not go together, naming the node and the values", () => {
    const g = new Graph();
    const a = g.input("a", "f32", [2, 3]);
    const b = g.input("b", "f32", [4]);
    const c = g.input("c", "f16", [2, 3]);
    assert.throws(() => g.op("Add", [a, b], { name: "bad_add" }), /Add 'bad_add'.*cannot broadcast \[2, 3\] with \[4\]/);
    assert.throws(() => g.op("MatMul", [a, a]), /MatMul inner dimensions differ/);
    assert.throws(() => g.op("Mul", [a, c]), /input dtypes differ/);
    assert.throws(() => g.op("Relu", [a], { shape: [3, 2] }), /declared shape \[3, 2\]/);
    assert.equal(a.uses.length, 0, "a refused node leaves no uses behind");
  });

  it("keeps use lists right through setInput", () => {
    const { g, x, h, y } = mlp();
    const relu = g.op("Relu", [x]);
    assert.equal(x.uses.length, 2);
    const add = y.node!;
    add.setInput(0, relu);
    assert.equal(h.uses.length, 0);
    assert.deepEqual(
      relu.uses.map((u) => [u.node.name, u.index]),
      [["bias", 0]],
    );
    add.setInput(0, h);
    assert.equal(relu.uses.length, 0);
    assert.equal(h.uses.length, 1);
  });

  it("makes an output of an input through an Identity, and refuses a second output of the same name", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    const o = g.output(x, "y");
    assert.notEqual(o, x);
    assert.equal(o.node?.opType, "Identity");
    assert.throws(() => g.output(g.op("Relu", [x]), "y"), /already has an output named "y"/);
    assert.throws(() => g.input("x", "f32", [2]), /already has an input named "x"/);
  });

  it("makes value names unique and hands an output's name to it from an ordinary value", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    const a = g.op("Relu", [x], { name: "logits" });
    const b = g.op("Neg", [a], { name: "logits" });
    assert.equal(a.name, "logits");
    assert.equal(b.name, "logits_1");
    g.output(b, "logits");
    assert.equal(b.name, "logits");
    assert.notEqual(a.name, "logits");
    assert.deepEqual(verify(g), []);
  });
});

describe("replace", () => {
  it("swaps a subgraph, moves uses and keeps the order topological", () => {
    const { g, x, w, h, y } = mlp();
    const b = new RewriteBuilder(g);
    const doubled = b.op("Mul", [x, b.scalar(2, "f32")]);
    const mm = b.op("MatMul", [doubled, w], { name: "proj2" });
    const r = g.replace({ remove: [h.node!], insert: b, rewire: [[h, mm]] });
    assert.deepEqual(r, { ok: true });
    assert.equal(y.node!.input(0), mm);
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["Mul", "MatMul", "Add", "Softmax"],
    );
    assert.equal(h.node!.state, "removed");
    assert.deepEqual(verify(g), []);
    assert.equal(b.consumed, true);
    assert.equal(g.replace({ insert: b }).ok, false);
  });

  it("wraps a value: the inserted node keeps reading it, everyone else reads the wrapper", () => {
    const { g, h, y } = mlp();
    const b = new RewriteBuilder(g);
    const relu = b.op("Relu", [h], { name: "wrap" });
    assert.deepEqual(g.replace({ insert: b, rewire: [[h, relu]] }), { ok: true });
    assert.equal(relu.node!.input(0), h);
    assert.equal(y.node!.input(0), relu);
    assert.deepEqual(
      g.nodes.map((n) => n.name),
      ["proj", "wrap", "bias", "Softmax"],
    );
    assert.deepEqual(verify(g), []);
  });

  it("keeps order through many insertions at one place", () => {
    const { g, h, y } = mlp();
    let current = h;
    for (let i = 0; i < 200; i++) {
      const b = new RewriteBuilder(g);
      const next = b.op("Relu", [current], { name: `wrap${i}` });
      assert.equal(g.replace({ insert: b, rewire: [[current, next]] }).ok, true);
      current = next;
    }
    assert.equal(y.node!.input(0), current);
    const names = g.nodes.map((n) => n.name);
    assert.deepEqual(names.slice(0, 3), ["proj", "wrap0", "wrap1"]);
    assert.deepEqual(names.slice(-3), ["wrap199", "bias", "Softmax"]);
    assert.deepEqual(verify(g), []);
  });

  it("refuses, changing nothing, a removal that would orphan a used value", () => {
    const { g, h } = mlp();
    const before = g.nodes.map((n) => n.name);
    const r = g.replace({ remove: [h.node!] });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : "", /would orphan 'proj', still used by Add 'bias' input 0/);
    assert.deepEqual(
      g.nodes.map((n) => n.name),
      before,
    );
    assert.equal(h.node!.state, "attached");
    assert.equal(h.uses.length, 1);
  });

  it("refuses a replacement whose shape disagrees, and one that would make an input a graph output", () => {
    const { g, x, h, out } = mlp();
    const b = new RewriteBuilder(g);
    const wrong = b.op("Relu", [x]);
    const r1 = g.replace({ remove: [h.node!], insert: b, rewire: [[h, wrong]] });
    assert.match(!r1.ok ? r1.reason : "", /cannot replace 'proj' \[batch, 3\]: dimension 1 is 3 vs 4/);
    const x3 = g.input("x3", "f32", ["batch", 3]);
    const r2 = g.replace({ rewire: [[out, x3]] });
    assert.match(!r2.ok ? r2.reason : "", /graph output 'probs' cannot become 'x3', which is a graph input/);
    assert.deepEqual(verify(g), []);
  });

  it("gives a replaced graph output's name to its replacement", () => {
    const { g, y, out } = mlp();
    const b = new RewriteBuilder(g);
    const s = b.op("Sigmoid", [y]);
    assert.equal(g.replace({ remove: [out.node!], insert: b, rewire: [[out, s]] }).ok, true);
    assert.equal(g.outputs[0], s);
    assert.equal(s.name, "probs");
    assert.deepEqual(verify(g), []);
  });

  it("reorders when the replacement must come after a node that follows the removed one", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    const a = g.op("Relu", [x], { name: "a" });
    const late = g.op("Neg", [x], { name: "late" });
    const c = g.op("Add", [a, late], { name: "c" });
    g.output(g.op("Exp", [a], { name: "e" }), "o1");
    g.output(c, "o2");
    const b = new RewriteBuilder(g);
    const a2 = b.op("Sigmoid", [late], { name: "a2" });
    assert.equal(g.replace({ remove: [a.node!], insert: b, rewire: [[a, a2]] }).ok, true);
    assert.deepEqual(
      g.nodes.map((n) => n.name),
      ["late", "a2", "c", "e"],
    );
    assert.deepEqual(verify(g), []);
  });

  it("refuses a change that would create a cycle", () => {
    const g = new Graph();
    const x = g.input("x", "f32", [2]);
    const a = g.op("Relu", [x], { name: "a" });
    const c = g.op("Neg", [a], { name: "c" });
    g.output(c, "o");
    const r = g.replace({ rewire: [[x, c]] });
    assert.equal(r.ok, false);
    assert.deepEqual(verify(g), []);
  });
});
