import { type DType, type Tensor, cast } from "@oar/tensor";
import { type Attribute, attributeFromSchema } from "./attributes.js";
import type { Graph } from "./graph.js";
import { inferOutputs } from "./infer.js";
import { Initializer, type LazyTensor } from "./initializer.js";
import { kConsume, kNodeName, kValueName } from "./internal.js";
import { Node } from "./node.js";
import {
  type AttrsOf,
  type ForeignOpType,
  type HasRequiredAttrs,
  MS_DOMAIN,
  type OpType,
  requiredAttrNames,
} from "./ops.js";
import { type Shape, formatShape, mergeShapes, shapeConflict } from "./shape.js";
import { Value } from "./value.js";

type AttrsOption<T extends OpType> =
  HasRequiredAttrs<T> extends true ? { readonly attrs: AttrsOf<T> } : { readonly attrs?: AttrsOf<T> };

/** Options of Builder.op: attributes typed by the op's schema, a name, and the output's type where inference cannot know it. */
export type OpOptions<T extends OpType> = AttrsOption<T> & {
  /** Name hint for the node and its output value (made unique in the graph). */
  readonly name?: string;
  /** The output's dtype when inference cannot know it; checked against inference when it can. */
  readonly dtype?: DType;
  /** The output's shape, e.g. with the symbol "total_sequence" where inference only knows "?"; checked against inference. */
  readonly shape?: Shape;
};

/** Options of Builder.node: as op, with the output slots spelled out. */
export type NodeOptions<T extends OpType> = AttrsOption<T> & {
  readonly name?: string;
  /** How many outputs (default 1), or one name hint per output slot with null for an omitted optional output. */
  readonly outputs?: number | readonly (string | null)[];
};

/** The options argument is required exactly when the op has a required attribute (Concat's axis, Cast's to). */
export type OpArgs<T extends OpType> = HasRequiredAttrs<T> extends true ? [options: OpOptions<T>] : [options?: OpOptions<T>];
export type NodeArgs<T extends OpType> =
  HasRequiredAttrs<T> extends true ? [options: NodeOptions<T>] : [options?: NodeOptions<T>];

export interface ForeignNodeOptions {
  readonly name?: string;
  readonly attributes?: Readonly<Record<string, Attribute>>;
  readonly outputs?: number | readonly (string | null)[];
}

/**
 * Builds nodes and constants the way model code reads:
 * `const y = g.op("MatMul", [x, w], { name: "q_proj" })`. Graph implements it
 * (appending to the graph); RewriteBuilder implements it for rewrites
 * (collecting nodes that Graph.replace inserts).
 */
export interface Builder {
  readonly graph: Graph;
  /** One node of a known op; returns its single output. */
  op<T extends OpType>(type: T, inputs: readonly (Value | null)[], ...options: OpArgs<T>): Value;
  /** One node of a known op with any number of outputs; returns the node (read `node.output(i)`). */
  node<T extends OpType>(type: T, inputs: readonly (Value | null)[], ...options: NodeArgs<T>): Node;
  /** A node of an op the IR does not know, with raw attributes (the escape hatch for foreign graphs). */
  foreignNode(type: ForeignOpType, inputs: readonly (Value | null)[], options?: ForeignNodeOptions): Node;
  /** A constant: a Tensor held in memory, or a LazyTensor read only when the model is written. */
  initializer(data: Tensor | LazyTensor, options?: { readonly name?: string }): Value;
  /** A rank-0 constant of `dtype`. */
  scalar(value: number, dtype: DType, options?: { readonly name?: string }): Value;
  /** A 1-D int64 constant (shapes, axes, indices). */
  int64s(values: readonly number[], options?: { readonly name?: string }): Value;
}

/** The shared implementation of Builder; subclasses decide where new nodes and initializers go. */
export abstract class BuilderBase implements Builder {
  abstract get graph(): Graph;
  /** Whether a new node may read `value` here. */
  protected abstract canRead(value: Value): boolean;
  protected abstract addNode(node: Node): void;
  protected abstract addInitializer(value: Value): void;

  op<T extends OpType>(type: T, inputs: readonly (Value | null)[], ...options: OpArgs<T>): Value {
    const o: Partial<OpOptions<T>> = options[0] ?? {};
    const node = this.#create(type, inputs, this.#attributes(type, o.attrs), 1, o.name, o);
    return node.output(0);
  }

  node<T extends OpType>(type: T, inputs: readonly (Value | null)[], ...options: NodeArgs<T>): Node {
    const o: Partial<NodeOptions<T>> = options[0] ?? {};
    return this.#create(type, inputs, this.#attributes(type, o.attrs), o.outputs ?? 1, o.name, {});
  }

  foreignNode(type: ForeignOpType, inputs: readonly (Value | null)[], options: ForeignNodeOptions = {}): Node {
    const attributes = new Map(Object.entries(options.attributes ?? {}));
    return this.#create(type, inputs, attributes, options.outputs ?? 1, options.name, {});
  }

  initializer(data: Tensor | LazyTensor, options: { readonly name?: string } = {}): Value {
    const init = "source" in data ? Initializer.fromLazy(data) : Initializer.fromTensor(data);
    const name = this.graph[kValueName](options.name ?? "const");
    const value = new Value(this.graph, name, { kind: "initializer", initializer: init }, { dtype: init.dtype, shape: init.shape });
    this.addInitializer(value);
    return value;
  }

  scalar(value: number, dtype: DType, options: { readonly name?: string } = {}): Value {
    return this.initializer(cast({ dtype: "f64", shape: [], data: Float64Array.of(value) }, dtype), options);
  }

  int64s(values: readonly number[], options: { readonly name?: string } = {}): Value {
    const data = BigInt64Array.from(values, (x) => {
      if (!Number.isSafeInteger(x)) throw new Error(`int64s: ${x} is not an integer`);
      return BigInt(x);
    });
    return this.initializer({ dtype: "i64", shape: [values.length], data }, options);
  }

  #attributes<T extends OpType>(type: T, attrs: AttrsOf<T> | undefined): Map<string, Attribute> {
    const out = new Map<string, Attribute>();
    for (const [name, value] of Object.entries(attrs ?? {})) {
      if (value !== undefined) out.set(name, attributeFromSchema(type, name, value));
    }
    const missing = requiredAttrNames(type).filter((n) => !out.has(n));
    if (missing.length > 0) throw new Error(`${type} needs attribute${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
    return out;
  }

  #create(
    type: OpType | ForeignOpType,
    inputs: readonly (Value | null)[],
    attributes: ReadonlyMap<string, Attribute>,
    outputs: number | readonly (string | null)[],
    nameHint: string | undefined,
    declared: { readonly dtype?: DType; readonly shape?: Shape },
  ): Node {
    const g = this.graph;
    inputs.forEach((v, i) => {
      if (v === null) return;
      if (v.graph !== g) throw new Error(`${type}: input ${i} '${v.name}' belongs to another graph`);
      if (!this.canRead(v)) {
        const from = v.node === null ? "" : ` (produced by ${v.node.describe()}, which is ${v.node.state})`;
        throw new Error(`${type}: input ${i} '${v.name}' is not available here${from}`);
      }
    });
    const slots = typeof outputs === "number" ? Array.from({ length: outputs }, () => "") : outputs;
    const name = g[kNodeName](nameHint ?? type);
    const outputNames = slots.map((n, i) => (n === null ? null : g[kValueName](n !== "" ? n : i === 0 ? name : `${name}_${i}`)));
    const node = new Node(g, { opType: type, name, inputs, attributes, outputNames });
    const inference = inferOutputs(node);
    const problem = inference.ok ? null : inference.error;
    const first = inference.ok ? inference.outputs[0] : undefined;
    const dtypeClash = declared.dtype !== undefined && first?.dtype !== undefined && first.dtype !== declared.dtype;
    const shapeClash =
      declared.shape !== undefined && first?.shape !== undefined ? shapeConflict(declared.shape, first.shape) : null;
    if (problem !== null || dtypeClash || shapeClash !== null) {
      inputs.forEach((_, i) => node.setInput(i, null));
      const why =
        problem ??
        (dtypeClash
          ? `declared dtype ${declared.dtype} but the inputs give ${first!.dtype}`
          : `declared shape ${formatShape(declared.shape)} but the inputs give ${formatShape(first!.shape)} (${shapeClash})`);
      throw new Error(`${node.describe()}: ${why}; inputs: ${inputs.map((v) => (v === null ? "omitted" : v.describe())).join(", ")}`);
    }
    if (inference.ok) {
      node.outputs.forEach((v, i) => {
        const t = inference.outputs[i];
        if (v === null || t === undefined) return;
        v.dtype = t.dtype;
        v.shape = t.shape;
      });
    }
    const out0 = node.outputs[0];
    if (out0 !== null && out0 !== undefined) {
      out0.dtype = declared.dtype ?? out0.dtype;
      if (declared.shape !== undefined) {
        out0.shape = out0.shape === undefined ? [...declared.shape] : mergeShapes(declared.shape, out0.shape);
      }
    }
    if (node.domain === MS_DOMAIN && !g.opsets.has(MS_DOMAIN)) g.opsets.set(MS_DOMAIN, 1);
    this.addNode(node);
    return node;
  }
}

/**
 * Builds the replacement of a rewrite: nodes and initializers that join the
 * graph only when Graph.replace inserts them, in the order built. New nodes
 * may read any value alive in the graph and anything built here before them.
 */
export class RewriteBuilder extends BuilderBase {
  readonly #graph: Graph;
  readonly #nodes: Node[] = [];
  readonly #initializers: Value[] = [];
  #consumed = false;

  constructor(graph: Graph) {
    super();
    this.#graph = graph;
  }

  get graph(): Graph {
    return this.#graph;
  }

  /** The nodes built, in order. */
  get nodes(): readonly Node[] {
    return this.#nodes;
  }

  get initializers(): readonly Value[] {
    return this.#initializers;
  }

  /** True once Graph.replace has inserted what was built (or it was discarded); a builder is used at most once. */
  get consumed(): boolean {
    return this.#consumed;
  }

  /** Whether `value` was built here (a new node's output or a new initializer). */
  built(value: Value): boolean {
    const n = value.node;
    return n !== null ? this.#nodes.includes(n) : this.#initializers.includes(value);
  }

  /**
   * Abandons what was built (after Graph.replace refused it): the nodes let
   * go of their inputs, and the builder takes nothing more.
   */
  discard(): void {
    for (const n of this.#nodes) n.inputs.forEach((_, i) => n.setInput(i, null));
    this.#consumed = true;
  }

  [kConsume](): void {
    this.#consumed = true;
  }

  protected canRead(value: Value): boolean {
    return !this.#consumed && (this.#graph.contains(value) || this.built(value));
  }

  protected addNode(node: Node): void {
    if (this.#consumed) throw new Error(`this RewriteBuilder was already inserted; start a new one for ${node.describe()}`);
    this.#nodes.push(node);
  }

  protected addInitializer(value: Value): void {
    if (this.#consumed) throw new Error(`this RewriteBuilder was already inserted; start a new one for '${value.name}'`);
    this.#initializers.push(value);
  }
}
