import type { DType, Tensor } from "@oar/tensor";
import { type Attribute, type AttributeType, dtypeOfAttribute } from "./attributes.js";
import type { Graph } from "./graph.js";
import { kAddUse, kRemoveUse, kSetState } from "./internal.js";
import { type ForeignOpType, type OpType, wireOpType } from "./ops.js";
import { Value } from "./value.js";

/** Where a node is: built but not yet in the graph, in it, or taken out of it. */
export type NodeState = "detached" | "attached" | "removed";

export interface NodeInit {
  readonly opType: OpType | ForeignOpType;
  readonly name: string;
  readonly inputs: readonly (Value | null)[];
  readonly attributes: ReadonlyMap<string, Attribute>;
  /** One entry per output slot: the value's unique name, or null for an omitted optional output. */
  readonly outputNames: readonly (string | null)[];
}

type AttrValue<T extends AttributeType> = Extract<Attribute, { type: T }>["value"];

/**
 * One operator application. Its inputs change only through setInput, which
 * keeps every value's use list right; its outputs are created with it and
 * produced by it alone.
 */
export class Node {
  readonly graph: Graph;
  readonly opType: OpType | ForeignOpType;
  readonly name: string;
  readonly attributes: ReadonlyMap<string, Attribute>;
  /** null marks an omitted optional output. */
  readonly outputs: readonly (Value | null)[];
  readonly #inputs: (Value | null)[] = [];
  #state: NodeState = "detached";

  /** Nodes are created by the builders (Graph.op, RewriteBuilder.op) and by readModel. */
  constructor(graph: Graph, init: NodeInit) {
    this.graph = graph;
    this.opType = init.opType;
    this.name = init.name;
    this.attributes = new Map(init.attributes);
    this.outputs = init.outputNames.map((n, index) =>
      n === null ? null : new Value(graph, n, { kind: "node", node: this, index }),
    );
    init.inputs.forEach((v, i) => {
      this.#inputs.push(null);
      this.setInput(i, v);
    });
  }

  /** The ONNX domain: "" for ai.onnx, "com.microsoft", ... */
  get domain(): string {
    return wireOpType(this.opType).domain;
  }

  /** null marks an omitted optional input. */
  get inputs(): readonly (Value | null)[] {
    return this.#inputs;
  }

  get state(): NodeState {
    return this.#state;
  }

  is(op: OpType): boolean {
    return this.opType === op;
  }

  /** `MatMul 'q_proj'`, for messages. */
  describe(): string {
    return `${this.opType} '${this.name}'`;
  }

  /** Input `index`; throws naming the node when it is omitted or out of range. */
  input(index: number): Value {
    const v = this.#inputs[index];
    if (v === undefined || v === null) {
      throw new Error(`${this.describe()} has no input ${index} (it has ${this.#inputs.length} input slots)`);
    }
    return v;
  }

  /** Output `index`; throws naming the node when it is omitted or out of range. */
  output(index = 0): Value {
    const v = this.outputs[index];
    if (v === undefined || v === null) {
      throw new Error(`${this.describe()} has no output ${index} (it has ${this.outputs.length} output slots)`);
    }
    return v;
  }

  /**
   * Makes input `index` read `value` (null omits it), moving the use from
   * the old value's use list to the new one's. The only way inputs change.
   */
  setInput(index: number, value: Value | null): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#inputs.length) {
      throw new Error(`${this.describe()}: setInput(${index}) is outside its ${this.#inputs.length} input slots`);
    }
    if (value !== null && value.graph !== this.graph) {
      throw new Error(`${this.describe()}: input ${index} '${value.name}' belongs to another graph`);
    }
    const old = this.#inputs[index]!;
    if (old === value) return;
    old?.[kRemoveUse](this, index);
    this.#inputs[index] = value;
    value?.[kAddUse](this, index);
  }

  attribute(name: string): Attribute | undefined {
    return this.attributes.get(name);
  }

  /** Int attribute `name`, or `fallback` when absent; throws naming the node when it is absent without fallback or not an int. */
  int(name: string, fallback?: number): number {
    return this.#typed(name, "int", fallback);
  }

  float(name: string, fallback?: number): number {
    return this.#typed(name, "float", fallback);
  }

  string(name: string, fallback?: string): string {
    return this.#typed(name, "string", fallback);
  }

  ints(name: string, fallback?: readonly number[]): readonly number[] {
    return this.#typed(name, "ints", fallback);
  }

  floats(name: string, fallback?: readonly number[]): readonly number[] {
    return this.#typed(name, "floats", fallback);
  }

  tensor(name: string): Tensor {
    return this.#typed(name, "tensor", undefined);
  }

  /** The DType an int attribute names (Cast's `to`); throws when absent or not a type the IR holds. */
  dtype(name: string): DType {
    const d = dtypeOfAttribute(this.attributes.get(name));
    if (d === undefined) {
      throw new Error(`${this.describe()}: attribute "${name}" does not name a supported element type`);
    }
    return d;
  }

  #typed<T extends AttributeType>(name: string, type: T, fallback: AttrValue<T> | undefined): AttrValue<T> {
    const a = this.attributes.get(name);
    if (a === undefined) {
      if (fallback !== undefined) return fallback;
      throw new Error(`${this.describe()} has no attribute "${name}"`);
    }
    if (a.type !== type) throw new Error(`${this.describe()}: attribute "${name}" is ${a.type}, expected ${type}`);
    return a.value as AttrValue<T>;
  }

  [kSetState](state: NodeState): void {
    this.#state = state;
  }
}
