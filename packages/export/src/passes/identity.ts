import { shapesEqual } from "../ir/shape.js";
import { accept, defineRule, noMatch } from "../rewrite/rule.js";

/** Identity(x) -> x. */
export const removeIdentity = defineRule({
  name: "remove-identity",
  vars: ["x"],
  pattern: (p, { x }) => p.op("Identity", [x]),
  check: (m) => accept({ x: m.vars.x }),
  rewrite: (_, { x }) => x,
});

/** Reshape(x, s) -> x when both shapes are fully known and the same (symbols by name). */
export const removeNoopReshape = defineRule({
  name: "remove-noop-reshape",
  vars: ["x", "target"],
  pattern: (p, { x, target }) => p.op("Reshape", [x, target]),
  check: (m) => {
    const x = m.vars.x;
    const y = m.outputs[0]!;
    const same = x.shape !== undefined && y.shape !== undefined && shapesEqual(x.shape, y.shape);
    return same ? accept({ x }) : noMatch();
  },
  rewrite: (_, { x }) => x,
});

/** Cast(x, to) -> x when x already has dtype `to`. */
export const removeNoopCast = defineRule({
  name: "remove-noop-cast",
  vars: ["x"],
  pattern: (p, { x }) => p.op("Cast", [x]),
  check: (m) => {
    const x = m.vars.x;
    const to = m.outputs[0]!.dtype;
    return x.dtype !== undefined && x.dtype === to ? accept({ x }) : noMatch();
  },
  rewrite: (_, { x }) => x,
});
