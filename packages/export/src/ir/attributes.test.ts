import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  attributeFromSchema,
  attributesEqual,
  floatAttr,
  floatsAttr,
  formatAttribute,
  intAttr,
  intsAttr,
  stringAttr,
} from "./attributes.js";
import { constantScalar, constantValue } from "./constant.js";
import { Graph } from "./graph.js";

describe("attributes", () => {
  it("take their wire type from the op schema, not from the JS number", () => {
    assert.deepEqual(attributeFromSchema("LayerNormalization", "epsilon", 1), { type: "float", value: 1 });
    assert.deepEqual(attributeFromSchema("LayerNormalization", "axis", -1), { type: "int", value: -1 });
    assert.deepEqual(attributeFromSchema("Transpose", "perm", [0, 2, 1]), { type: "ints", value: [0, 2, 1] });
    assert.deepEqual(attributeFromSchema("Cast", "to", "bf16"), { type: "int", value: 16 });
    assert.throws(() => attributeFromSchema("Softmax", "epsilon", 1), /Softmax has no attribute "epsilon"/);
    assert.throws(() => attributeFromSchema("Transpose", "perm", [0, 0.5]), /must be an integer, got 0.5/);
  });

  it("build raw attributes for foreign ops, compare exactly and print for people", () => {
    assert.equal(attributesEqual(intAttr(1), floatAttr(1)), false);
    assert.equal(attributesEqual(floatsAttr([1, 2]), floatsAttr([1, 2])), true);
    assert.throws(() => intsAttr([1.5]), /must be an integer/);
    assert.equal(
      [formatAttribute("a", intAttr(3)), formatAttribute("b", floatAttr(1e-6)), formatAttribute("c", stringAttr("tanh"))].join(" "),
      'a=3 b=0.000001f c="tanh"',
    );
  });
});

describe("constants", () => {
  it("read initializers and Constant nodes", () => {
    const g = new Graph();
    const eps = g.scalar(1e-6, "f32");
    const c = g.op("Constant", [], { attrs: { value_ints: [2, 3] } });
    assert.equal(constantScalar(eps), Math.fround(1e-6));
    assert.deepEqual(constantValue(c)?.shape, [2]);
    assert.deepEqual(c.shape, [2]);
    assert.equal(c.dtype, "i64");
    assert.equal(constantScalar(c), null);
    assert.equal(constantValue(g.input("x", "f32", [1])), null);
  });
});
