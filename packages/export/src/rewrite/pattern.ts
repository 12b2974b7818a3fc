import { assertNever } from "@oar/tensor";
import { type Attribute, attributeFromSchema, attributesEqual } from "../ir/attributes.js";
import { constantValue, tensorNumbers } from "../ir/constant.js";
import { isFloatDType } from "../ir/dtype.js";
import type { Graph } from "../ir/graph.js";
import type { Node } from "../ir/node.js";
import { type AttrsOf, type OpType, isCommutative } from "../ir/ops.js";
import type { Value } from "../ir/value.js";

/** A declared pattern variable: matches any value, the same value wherever it appears. */
export interface PatternVar<V extends string = string> {
  readonly kind: "var";
  readonly name: V;
}

/** One op of a pattern. */
export interface PatternNode {
  readonly op: OpType;
  readonly inputs: readonly (PatternValue | null)[];
  readonly attrs: ReadonlyMap<string, Attribute>;
  /** Variables bound to the node's outputs (`as`), by output index. */
  readonly binds: ReadonlyMap<number, string>;
}

/** Something a pattern input can be. */
export type PatternValue =
  | PatternVar
  | { readonly kind: "output"; readonly node: PatternNode; readonly index: number }
  | { readonly kind: "constant"; readonly value: number }
  | { readonly kind: "any" }
  | { readonly kind: "oneOf"; readonly alternatives: readonly PatternValue[] };

/** A pattern input: a pattern value, a number (a constant whose every element is that number), or null (an omitted input). */
export type PatternInput = PatternValue | number | null;

export interface PatternOpOptions<T extends OpType, V extends string> {
  /** Attributes the node must have, with these exact values (defaults are not assumed: check them in `check`). */
  readonly attrs?: Partial<AttrsOf<T>>;
  /** Binds the op's output to a declared variable, so `check` can read it (and its node). */
  readonly as?: PatternVar<V>;
}

/**
 * Writes patterns the way model code is written:
 * `p.op("Mul", [x, p.op("Reciprocal", [y])])`. Add, Mul, And, Or, Xor and
 * Equal match either operand order.
 */
export class PatternBuilder<V extends string> {
  op<T extends OpType>(type: T, inputs: readonly PatternInput[], options: PatternOpOptions<T, V> = {}): PatternValue {
    const node = this.#node(type, inputs, options.attrs, options.as === undefined ? [] : [options.as]);
    return { kind: "output", node, index: 0 };
  }

  /**
   * An op with several outputs; returns one pattern value per output. `as`
   * binds outputs to variables by position (null: not bound).
   */
  opOutputs<T extends OpType>(
    type: T,
    inputs: readonly PatternInput[],
    options: { readonly outputs: number; readonly attrs?: Partial<AttrsOf<T>>; readonly as?: readonly (PatternVar<V> | null)[] },
  ): PatternValue[] {
    const node = this.#node(type, inputs, options.attrs, options.as ?? []);
    return Array.from({ length: options.outputs }, (_, index) => ({ kind: "output", node, index }));
  }

  /**
   * Matches any value (not an omitted input) without binding it: an operand
   * whose value `check` does not need, such as a Reshape's target shape or
   * ReduceMean's axes input, which `check` reads from the node instead.
   */
  any(): PatternValue {
    return { kind: "any" };
  }

  /** Matches whichever alternative matches first. Every alternative must use the same variables. */
  oneOf(...alternatives: PatternValue[]): PatternValue {
    if (alternatives.length < 2) throw new Error("oneOf needs at least two alternatives");
    return { kind: "oneOf", alternatives };
  }

  #node<T extends OpType>(
    type: T,
    inputs: readonly PatternInput[],
    attrs: Partial<AttrsOf<T>> | undefined,
    binds: readonly (PatternVar<V> | null)[],
  ): PatternNode {
    const a = new Map<string, Attribute>();
    for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined) a.set(k, attributeFromSchema(type, k, v));
    const b = new Map<number, string>();
    binds.forEach((v, i) => v !== null && b.set(i, v.name));
    return {
      op: type,
      inputs: inputs.map((x) => (typeof x === "number" ? { kind: "constant", value: x } : x)),
      attrs: a,
      binds: b,
    };
  }
}

/** Variables bound so far, and which graph node each pattern node matched. */
interface Bindings {
  readonly vars: ReadonlyMap<string, Value>;
  readonly nodes: ReadonlyMap<PatternNode, Node>;
}

function bindVar(b: Bindings, name: string, v: Value): Bindings | null {
  const prev = b.vars.get(name);
  if (prev !== undefined) return prev === v ? b : null;
  return { vars: new Map(b.vars).set(name, v), nodes: b.nodes };
}

/** Whether every element of the constant `v` is `c` (to the precision of v's dtype). */
function constantIs(v: Value, c: number): boolean {
  const t = constantValue(v, { maxBytes: 1024 });
  if (t === null || t.data.length === 0) return false;
  const tol = t.dtype === "f16" || t.dtype === "bf16" ? 1e-2 : t.dtype === "f32" ? 1e-6 : 0;
  const scale = Math.max(1, Math.abs(c));
  return tensorNumbers(t).every((x) => (isFloatDType(t.dtype) ? Math.abs(x - c) <= tol * scale : x === c));
}

function* matchValue(pv: PatternValue, v: Value, b: Bindings): Generator<Bindings> {
  switch (pv.kind) {
    case "var": {
      const next = bindVar(b, pv.name, v);
      if (next !== null) yield next;
      return;
    }
    case "constant":
      if (constantIs(v, pv.value)) yield b;
      return;
    case "any":
      yield b;
      return;
    case "oneOf":
      for (const alt of pv.alternatives) yield* matchValue(alt, v, b);
      return;
    case "output":
      yield* matchOutput(pv.node, pv.index, v, b);
      return;
    default:
      assertNever(pv);
  }
}

function* matchOutput(pn: PatternNode, index: number, v: Value, b: Bindings): Generator<Bindings> {
  const p = v.producer;
  if (p.kind !== "node" || p.index !== index) return;
  const node = p.node;
  const already = b.nodes.get(pn);
  if (already !== undefined) {
    if (already === node) yield b;
    return;
  }
  if (!node.is(pn.op) || [...b.nodes.values()].includes(node)) return;
  for (const [k, a] of pn.attrs) {
    const actual = node.attribute(k);
    if (actual === undefined || !attributesEqual(actual, a)) return;
  }
  let next: Bindings | null = { vars: b.vars, nodes: new Map(b.nodes).set(pn, node) };
  for (const [i, name] of pn.binds) {
    const out = node.outputs[i];
    next = out === null || out === undefined ? null : bindVar(next, name, out);
    if (next === null) return;
  }
  yield* matchInputs(pn, node, next);
}

function* matchInputs(pn: PatternNode, node: Node, b: Bindings): Generator<Bindings> {
  const actual = [...node.inputs];
  while (actual.length > 0 && actual[actual.length - 1] === null) actual.pop();
  if (actual.length > pn.inputs.length) return;
  const orders = isCommutative(pn.op) && pn.inputs.length === 2 ? [[0, 1], [1, 0]] : [pn.inputs.map((_, i) => i)];
  for (const order of orders) yield* matchSequence(order.map((i) => pn.inputs[i]!), actual, 0, b);
}

function* matchSequence(
  pins: readonly (PatternValue | null)[],
  actual: readonly (Value | null)[],
  i: number,
  b: Bindings,
): Generator<Bindings> {
  if (i === pins.length) {
    yield b;
    return;
  }
  const pin = pins[i]!;
  const v = actual[i] ?? null;
  if (pin === null || v === null) {
    if (pin === null && v === null) yield* matchSequence(pins, actual, i + 1, b);
    return;
  }
  for (const next of matchValue(pin, v, b)) yield* matchSequence(pins, actual, i + 1, next);
}

/** The longest chain of ops from a pattern value down to its leaves. */
function depth(pv: PatternValue | null): number {
  if (pv === null) return 0;
  switch (pv.kind) {
    case "var":
    case "constant":
    case "any":
      return 0;
    case "oneOf":
      return Math.max(...pv.alternatives.map(depth));
    case "output":
      return 1 + Math.max(0, ...pv.node.inputs.map(depth));
    default:
      return assertNever(pv);
  }
}

/** The variables a pattern value mentions, and the pattern nodes in it. */
function collect(pv: PatternValue | null, vars: Set<string>, nodes: Set<PatternNode>): void {
  if (pv === null) return;
  switch (pv.kind) {
    case "var":
      vars.add(pv.name);
      return;
    case "constant":
    case "any":
      return;
    case "oneOf": {
      // Each alternative is walked whole (a sub-pattern shared by two alternatives counts in both).
      const sets = pv.alternatives.map((alt) => {
        const s = new Set<string>();
        const ns = new Set<PatternNode>();
        collect(alt, s, ns);
        for (const n of ns) nodes.add(n);
        return s;
      });
      const first = [...sets[0]!].sort().join(",");
      if (sets.some((s) => [...s].sort().join(",") !== first)) {
        throw new Error(`every alternative of a oneOf must use the same variables, got ${sets.map((s) => `{${[...s].join(", ")}}`).join(" vs ")}`);
      }
      for (const s of sets) for (const x of s) vars.add(x);
      return;
    }
    case "output":
      if (nodes.has(pv.node)) return;
      nodes.add(pv.node);
      for (const name of pv.node.binds.values()) vars.add(name);
      for (const input of pv.node.inputs) collect(input, vars, nodes);
      return;
    default:
      assertNever(pv);
  }
}

/** A structural match of a pattern in a graph, before `check`. */
export interface Match<V extends string> {
  readonly graph: Graph;
  /** The value each declared variable matched. */
  readonly vars: { readonly [K in V]: Value };
  /** The values of the pattern's outputs, in the order the pattern returned them. */
  readonly outputs: readonly Value[];
  /** Every node the pattern's ops matched, the root first; a rewrite removes them. */
  readonly nodes: readonly Node[];
  /** The node producing variable `name` (bound with `as`); throws when it is not a node output. */
  node(name: V): Node;
}

/** A compiled pattern: its outputs, the op its first output is, and a matcher. */
export class Pattern<V extends string> {
  readonly outputs: readonly { readonly node: PatternNode; readonly index: number }[];
  readonly #depth: number;

  constructor(ruleName: string, vars: readonly V[], outputs: PatternValue | readonly PatternValue[]) {
    const list = Array.isArray(outputs) ? (outputs as readonly PatternValue[]) : [outputs as PatternValue];
    if (list.length === 0) throw new Error(`rule '${ruleName}': the pattern has no outputs`);
    const outs = list.map((o, i) => {
      if (o.kind !== "output") throw new Error(`rule '${ruleName}': pattern output ${i} must be an op, got a ${o.kind}`);
      return { node: o.node, index: o.index };
    });
    const seenVars = new Set<string>();
    const seenNodes = new Set<PatternNode>();
    list.forEach((o, i) => {
      const vs = new Set<string>();
      const ns = new Set<PatternNode>();
      collect(o, vs, ns);
      if (i > 0 && ![...vs].some((v) => seenVars.has(v)) && ![...ns].some((n) => seenNodes.has(n))) {
        throw new Error(`rule '${ruleName}': pattern output ${i} shares no variable or op with the outputs before it`);
      }
      for (const v of vs) seenVars.add(v);
      for (const n of ns) seenNodes.add(n);
    });
    const unused = vars.filter((v) => !seenVars.has(v));
    if (unused.length > 0) throw new Error(`rule '${ruleName}': variable${unused.length > 1 ? "s" : ""} ${unused.join(", ")} declared but not in the pattern`);
    const undeclared = [...seenVars].filter((v) => !(vars as readonly string[]).includes(v));
    if (undeclared.length > 0) throw new Error(`rule '${ruleName}': pattern uses undeclared variables ${undeclared.join(", ")}`);
    this.outputs = outs;
    this.#depth = Math.max(...list.map(depth));
  }

  /** The op of the first output: only nodes of this op are tried as a match's root. */
  get rootOp(): OpType {
    return this.outputs[0]!.node.op;
  }

  /** Every structural match rooted at `root` (the node of the first output), lazily, in a fixed order. */
  *matchesAt(root: Node): Generator<Match<V>> {
    const graph = root.graph;
    const first = this.outputs[0]!;
    const rootValue = root.outputs[first.index];
    if (rootValue === null || rootValue === undefined) return;
    const start: Bindings = { vars: new Map(), nodes: new Map() };
    for (const b of matchOutput(first.node, first.index, rootValue, start)) {
      yield* this.#rest(graph, 1, b, [rootValue]);
    }
  }

  *#rest(graph: Graph, i: number, b: Bindings, outputs: readonly Value[]): Generator<Match<V>> {
    if (i === this.outputs.length) {
      yield makeMatch<V>(graph, b, outputs);
      return;
    }
    const out = this.outputs[i]!;
    const bound = b.nodes.get(out.node);
    for (const candidate of bound !== undefined ? [bound] : this.#candidates(b, out.node.op)) {
      const v = candidate.outputs[out.index];
      if (v === null || v === undefined) continue;
      for (const next of matchOutput(out.node, out.index, v, b)) yield* this.#rest(graph, i + 1, next, [...outputs, v]);
    }
  }

  /** Nodes of op `op` reachable forward, within the pattern's depth, from what is bound so far. */
  #candidates(b: Bindings, op: OpType): Node[] {
    let frontier: Value[] = [...b.vars.values()];
    for (const n of b.nodes.values()) for (const v of n.outputs) if (v !== null) frontier.push(v);
    const seen = new Set<Node>();
    const found: Node[] = [];
    for (let d = 0; d < this.#depth && frontier.length > 0; d++) {
      const next: Value[] = [];
      for (const v of frontier) {
        for (const u of v.uses) {
          if (seen.has(u.node)) continue;
          seen.add(u.node);
          if (u.node.is(op)) found.push(u.node);
          for (const o of u.node.outputs) if (o !== null) next.push(o);
        }
      }
      frontier = next;
    }
    return found;
  }
}

function makeMatch<V extends string>(graph: Graph, b: Bindings, outputs: readonly Value[]): Match<V> {
  const vars = Object.fromEntries(b.vars) as { readonly [K in V]: Value };
  return {
    graph,
    vars,
    outputs,
    nodes: [...b.nodes.values()],
    node(name: V): Node {
      const v = vars[name];
      if (v.node === null) throw new Error(`pattern variable '${name}' matched '${v.name}', which no node produces`);
      return v.node;
    },
  };
}
