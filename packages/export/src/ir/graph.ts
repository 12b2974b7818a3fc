import { type DType, assertNever } from "@oar/tensor";
import { BuilderBase, type RewriteBuilder } from "./builder.js";
import {
  kAddInitializer,
  kAppendNode,
  kConsume,
  kNodeName,
  kSetName,
  kSetState,
  kValueName,
} from "./internal.js";
import type { Node } from "./node.js";
import { NodeList } from "./node-list.js";
import { type Shape, formatShape, mergeShapes, shapeConflict } from "./shape.js";
import { Value } from "./value.js";

export interface GraphOptions {
  readonly name?: string;
  /** Opset per domain ("" is ai.onnx). Default: ai.onnx 17; com.microsoft 1 is added when a node needs it. */
  readonly opsets?: Readonly<Record<string, number>>;
}

/** The outcome of a mutation: applied, or refused (and nothing changed) with a sentence saying why. */
export type MutationResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * One change to a graph, applied by Graph.replace as a whole or not at all.
 * Every pass changes graphs through this alone.
 */
export interface Replacement {
  /** Nodes to take out. Their outputs must end up unused: rewired, or used only by other removed nodes. */
  readonly remove?: readonly Node[];
  /** New nodes and initializers, inserted in the order built. */
  readonly insert?: RewriteBuilder;
  /**
   * [old, new]: every use of old (and its place among the graph outputs, with
   * its name) moves to new. Uses by the inserted nodes stay, so a rewrite
   * can wrap a value: insert Cast(v) and rewire [v, cast].
   */
  readonly rewire?: readonly (readonly [Value, Value])[];
  /** Initializers to drop; they must end up unused. */
  readonly removeInitializers?: readonly Value[];
}

const refuse = (reason: string): MutationResult => ({ ok: false, reason });
const OK: MutationResult = { ok: true };

/**
 * A graph: inputs, outputs, nodes in topological order, initializers, opset
 * imports and metadata. Values carry their own dtype and shape (the value
 * infos). A Graph is also a Builder that appends nodes at the end:
 *
 *     const g = new Graph({ name: "tiny" });
 *     const x = g.input("x", "f32", ["batch", 4]);
 *     const w = g.initializer(tensor("f32", [4, 3], data), { name: "w" });
 *     g.output(g.op("Softmax", [g.op("MatMul", [x, w])], { attrs: { axis: -1 } }), "probs");
 */
export class Graph extends BuilderBase {
  name: string;
  docString = "";
  /** Model metadata_props. */
  readonly metadata = new Map<string, string>();
  readonly opsets: Map<string, number>;
  readonly #inputs: Value[] = [];
  #outputs: Value[] = [];
  readonly #nodes = new NodeList();
  #initializers: Value[] = [];
  readonly #initializerSet = new Set<Value>();
  readonly #usedValueNames = new Set<string>();
  readonly #usedNodeNames = new Set<string>();
  readonly #nextSuffix = new Map<string, number>();

  constructor(options: GraphOptions = {}) {
    super();
    this.name = options.name ?? "graph";
    this.opsets = new Map(Object.entries(options.opsets ?? { "": 17 }));
  }

  get graph(): Graph {
    return this;
  }

  get inputs(): readonly Value[] {
    return this.#inputs;
  }

  get outputs(): readonly Value[] {
    return this.#outputs;
  }

  /** In topological order. Iterate over a copy (`[...g.nodes]`) when changing the graph on the way. */
  get nodes(): readonly Node[] {
    return this.#nodes.toArray();
  }

  get initializers(): readonly Value[] {
    return this.#initializers;
  }

  /** A graph input; its name is exact (not a hint) and must be new. */
  input(name: string, dtype: DType, shape: Shape): Value {
    this.#claim(name, null);
    const v = new Value(this, name, { kind: "input" }, { dtype, shape });
    this.#inputs.push(v);
    return v;
  }

  /**
   * Makes `value` a graph output named `name` (exact). A value that is
   * already an output, a graph input or an initializer is passed through an
   * Identity node, since ONNX names an output by its value. Returns the value
   * that is the output.
   */
  output(value: Value, name: string): Value {
    if (!this.contains(value)) throw new Error(`output "${name}": value '${value.name}' is not in graph '${this.name}'`);
    if (this.#outputs.some((o) => o.name === name)) throw new Error(`graph '${this.name}' already has an output named "${name}"`);
    const target =
      value.isGraphInput || value.initializer !== null || value.isGraphOutput ? this.op("Identity", [value], { name }) : value;
    this.#claim(name, target);
    this.#outputs.push(target);
    return target;
  }

  /** The value of this name alive in the graph. */
  value(name: string): Value | undefined {
    return this.#alive().find((v) => v.name === name);
  }

  /** Whether a value is alive here (a graph input, an initializer, or an output of a node in the graph), or a node is in the graph. */
  contains(x: Value | Node): boolean {
    if (x.graph !== this) return false;
    if (!(x instanceof Value)) return x.state === "attached";
    switch (x.producer.kind) {
      case "input":
        return true;
      case "initializer":
        return this.#initializerSet.has(x);
      case "node":
        return x.producer.node.state === "attached";
      default:
        return assertNever(x.producer);
    }
  }

  /**
   * The one mutation primitive: removes nodes, inserts what a RewriteBuilder
   * built, moves every use of each rewired value to its replacement, drops
   * initializers; keeps the nodes topologically ordered. It checks
   * everything first and changes nothing when it refuses: a removal that
   * would leave a used value without its producer, a new node reading a
   * value it cannot see, a replacement whose dtype or shape disagrees with
   * the value it replaces, or a change that would create a cycle.
   */
  replace(r: Replacement): MutationResult {
    const remove = new Set(r.remove ?? []);
    const built = r.insert;
    const newNodes = built?.nodes ?? [];
    const newInits = built?.initializers ?? [];
    const dropInits = new Set(r.removeInitializers ?? []);
    const rewire = new Map<Value, Value>();
    for (const n of remove) {
      if (!this.contains(n)) return refuse(`${n.describe()} is not in graph '${this.name}'`);
    }
    if (built !== undefined) {
      if (built.graph !== this) return refuse("the RewriteBuilder belongs to another graph");
      if (built.consumed) return refuse("the RewriteBuilder was already inserted");
    }
    for (const v of dropInits) {
      if (v.initializer === null || !this.contains(v)) return refuse(`'${v.name}' is not an initializer of graph '${this.name}'`);
    }
    const newNodeSet = new Set(newNodes);
    const gone = (v: Value) => (v.node !== null && remove.has(v.node)) || dropInits.has(v);
    const fresh = (v: Value) => (v.node !== null ? newNodeSet.has(v.node) : newInits.includes(v));
    for (const [old, nu] of r.rewire ?? []) {
      if (!this.contains(old)) return refuse(`rewired value '${old.name}' is not in graph '${this.name}'`);
      if (old === nu) return refuse(`value '${old.name}' is rewired to itself`);
      if (rewire.has(old)) return refuse(`value '${old.name}' is rewired twice`);
      if (!(fresh(nu) || (this.contains(nu) && !gone(nu)))) {
        return refuse(`'${old.name}' would be rewired to '${nu.name}', which is not in the graph after the change`);
      }
      if (old.dtype !== undefined && nu.dtype !== undefined && old.dtype !== nu.dtype) {
        return refuse(`'${nu.name}' (${nu.dtype}) cannot replace '${old.name}' (${old.dtype})`);
      }
      const clash = old.shape !== undefined && nu.shape !== undefined ? shapeConflict(old.shape, nu.shape) : null;
      if (clash !== null) {
        return refuse(`'${nu.name}' ${formatShape(nu.shape)} cannot replace '${old.name}' ${formatShape(old.shape)}: ${clash}`);
      }
      if (old.isGraphOutput && (nu.isGraphInput || nu.initializer !== null || nu.isGraphOutput)) {
        const what = nu.isGraphInput ? "a graph input" : nu.initializer !== null ? "an initializer" : "already a graph output";
        return refuse(`graph output '${old.name}' cannot become '${nu.name}', which is ${what}`);
      }
      rewire.set(old, nu);
    }
    const seen = new Set<Node>();
    for (const n of newNodes) {
      for (const [i, v] of n.inputs.entries()) {
        if (v === null) continue;
        const visible = v.node !== null && newNodeSet.has(v.node) ? seen.has(v.node) : fresh(v) || (this.contains(v) && !gone(v));
        if (!visible) {
          return refuse(`new ${n.describe()} input ${i} '${v.name}' is not produced before it (removed, or built later)`);
        }
      }
      seen.add(n);
    }
    for (const n of remove) {
      for (const o of n.outputs) {
        if (o === null || rewire.has(o)) continue;
        const outside = o.uses.find((u) => !remove.has(u.node));
        if (outside !== undefined) {
          return refuse(
            `removing ${n.describe()} would orphan '${o.name}', still used by ${outside.node.describe()} input ${outside.index}`,
          );
        }
        if (o.isGraphOutput) return refuse(`removing ${n.describe()} would orphan graph output '${o.name}'`);
      }
    }
    for (const v of dropInits) {
      if (rewire.has(v)) continue;
      const outside = v.uses.find((u) => !remove.has(u.node));
      if (outside !== undefined) {
        return refuse(`initializer '${v.name}' is still used by ${outside.node.describe()} input ${outside.index}`);
      }
      if (v.isGraphOutput) return refuse(`initializer '${v.name}' is a graph output`);
    }

    const plan = this.#plan(remove, newNodes, rewire);
    if (plan === null) return refuse("the change would create a cycle");

    for (const v of newInits) this[kAddInitializer](v);
    for (const [old, nu] of rewire) {
      for (const u of [...old.uses]) if (!remove.has(u.node)) u.node.setInput(u.index, nu);
      if (nu.dtype === undefined) nu.dtype = old.dtype;
      if (old.shape !== undefined) nu.shape = nu.shape === undefined ? [...old.shape] : mergeShapes(nu.shape, old.shape);
      const at = this.#outputs.indexOf(old);
      if (at >= 0) {
        const name = old.name;
        this.#rename(old, this[kValueName](name));
        this.#rename(nu, name);
        this.#outputs[at] = nu;
      }
    }
    if ("anchor" in plan) this.#nodes.insertAfter(plan.anchor, newNodes);
    for (const n of remove) {
      n.inputs.forEach((_, i) => n.setInput(i, null));
      n[kSetState]("removed");
      this.#nodes.remove(n);
    }
    if (dropInits.size > 0) {
      this.#initializers = this.#initializers.filter((v) => !dropInits.has(v));
      for (const v of dropInits) this.#initializerSet.delete(v);
    }
    for (const n of newNodes) n[kSetState]("attached");
    if ("order" in plan) this.#nodes.reset(plan.order);
    built?.[kConsume]();
    return OK;
  }

  /**
   * Reorders the nodes topologically, keeping the current order wherever it
   * already is one (files from other tools are sometimes out of order).
   * Throws naming a node on a cycle.
   */
  sortTopologically(): void {
    const order = stableTopologicalOrder(this.#nodes.toArray(), (n) => n.inputs);
    if (order === null) throw new Error(`graph '${this.name}' has a cycle; it cannot be ordered`);
    this.#nodes.reset(order);
  }

  /**
   * Where the new nodes go: right after `anchor` (in place of the last removed
   * node when that is late enough, else after the last node they read from),
   * or, when that cannot be topological, a whole new order; null on a cycle.
   * Costs the size of the change, except in the re-sorting case.
   */
  #plan(
    remove: ReadonlySet<Node>,
    newNodes: readonly Node[],
    rewire: ReadonlyMap<Value, Value>,
  ): { readonly anchor: Node | null } | { readonly order: Node[] } | null {
    const list = this.#nodes;
    const newSet = new Set(newNodes);
    const later = (a: Node | null, b: Node) => a === null || list.key(b) > list.key(a);
    let lastProducer: Node | null = null;
    for (const n of newNodes) {
      for (const v of n.inputs) {
        const p = v?.node;
        if (p !== null && p !== undefined && !newSet.has(p) && later(lastProducer, p)) lastProducer = p;
      }
    }
    let firstConsumer: Node | null = null;
    let needSort = false;
    for (const [old, nu] of rewire) {
      let first: Node | null = null;
      for (const u of old.uses) if (!remove.has(u.node) && (first === null || list.key(u.node) < list.key(first))) first = u.node;
      if (first === null || nu.node === null) continue;
      if (newSet.has(nu.node)) {
        if (firstConsumer === null || list.key(first) < list.key(firstConsumer)) firstConsumer = first;
      } else if (list.key(nu.node) >= list.key(first)) {
        needSort = true;
      }
    }
    let lastRemoved: Node | null = null;
    for (const n of remove) if (later(lastRemoved, n)) lastRemoved = n;
    let anchor: Node | null;
    if (lastRemoved !== null && (lastProducer === null || list.key(lastRemoved) > list.key(lastProducer))) anchor = lastRemoved;
    else if (lastProducer !== null) anchor = lastProducer;
    else if (firstConsumer !== null) anchor = list.prev(firstConsumer);
    else anchor = list.tail;
    if (firstConsumer !== null && anchor !== null && list.key(anchor) >= list.key(firstConsumer)) needSort = true;
    if (!needSort) return { anchor };
    const tentative: Node[] = [];
    if (anchor === null) tentative.push(...newNodes);
    for (const n of list.toArray()) {
      if (!remove.has(n)) tentative.push(n);
      if (n === anchor) tentative.push(...newNodes);
    }
    // New nodes keep reading a rewired value itself (wrapping it); everyone else reads its replacement.
    const order = stableTopologicalOrder(tentative, (n) =>
      newSet.has(n) ? n.inputs : n.inputs.map((v) => (v === null ? v : (rewire.get(v) ?? v))),
    );
    return order === null ? null : { order };
  }

  /** Gives `name` to `forValue` (null: a new input). An alive input or output holding it is an error; any other holder is renamed. */
  #claim(name: string, forValue: Value | null): void {
    const holder = this.value(name);
    if (holder !== undefined && holder !== forValue) {
      if (holder.isGraphInput || holder.isGraphOutput) {
        throw new Error(`graph '${this.name}' already has ${holder.isGraphInput ? "an input" : "an output"} named "${name}"`);
      }
      this.#rename(holder, this[kValueName](name));
    }
    this.#usedValueNames.add(name);
    if (forValue !== null && forValue.name !== name) forValue[kSetName](name);
  }

  #rename(v: Value, name: string): void {
    this.#usedValueNames.add(name);
    v[kSetName](name);
  }

  #alive(): Value[] {
    const out: Value[] = [...this.#inputs, ...this.#initializers];
    for (const n of this.#nodes.toArray()) for (const v of n.outputs) if (v !== null) out.push(v);
    return out;
  }

  #unique(used: Set<string>, hint: string): string {
    let name = hint;
    if (used.has(name)) {
      let k = this.#nextSuffix.get(hint) ?? 1;
      while (used.has(`${hint}_${k}`)) k++;
      this.#nextSuffix.set(hint, k + 1);
      name = `${hint}_${k}`;
    }
    used.add(name);
    return name;
  }

  /** A value name not used before in this graph, `hint` itself when free. */
  [kValueName](hint: string): string {
    return this.#unique(this.#usedValueNames, hint);
  }

  [kNodeName](hint: string): string {
    return this.#unique(this.#usedNodeNames, hint);
  }

  protected canRead(value: Value): boolean {
    return this.contains(value);
  }

  protected addNode(node: Node): void {
    this[kAppendNode](node);
  }

  protected addInitializer(value: Value): void {
    this[kAddInitializer](value);
  }

  /** Appends a node as is (the builders and readModel). */
  [kAppendNode](node: Node): void {
    node[kSetState]("attached");
    this.#nodes.append(node);
  }

  [kAddInitializer](value: Value): void {
    this.#initializers.push(value);
    this.#initializerSet.add(value);
  }
}

/**
 * Kahn's algorithm, taking at each step the ready node that comes first in
 * `nodes`, so an order that is already topological is kept. Dependencies on
 * values whose producer is not in `nodes` are ignored. Null on a cycle.
 */
function stableTopologicalOrder(nodes: readonly Node[], inputsOf: (n: Node) => readonly (Value | null)[]): Node[] | null {
  const index = new Map(nodes.map((n, i) => [n, i]));
  const waiting = new Array<number>(nodes.length).fill(0);
  const dependents: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const v of new Set(inputsOf(n))) {
      const p = v?.node;
      const j = p === null || p === undefined ? undefined : index.get(p);
      if (j === undefined) continue;
      waiting[i]!++;
      dependents[j]!.push(i);
    }
  });
  const ready = new MinHeap();
  waiting.forEach((w, i) => w === 0 && ready.push(i));
  const out: Node[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    out.push(nodes[i]!);
    for (const d of dependents[i]!) if (--waiting[d]! === 0) ready.push(d);
  }
  return out.length === nodes.length ? out : null;
}

class MinHeap {
  readonly #a: number[] = [];

  get size(): number {
    return this.#a.length;
  }

  push(x: number): void {
    const a = this.#a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): number {
    const a = this.#a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
