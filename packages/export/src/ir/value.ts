import type { DType } from "@oar/tensor";
import type { Graph } from "./graph.js";
import type { Initializer } from "./initializer.js";
import { kAddUse, kRemoveUse, kSetName } from "./internal.js";
import type { Node } from "./node.js";
import { type Shape, formatShape } from "./shape.js";

/** A place a value is consumed: input `index` of `node`. */
export interface Use {
  readonly node: Node;
  readonly index: number;
}

/** What produces a value: exactly one of a graph input, an initializer, or one output of one node. */
export type Producer =
  | { readonly kind: "input" }
  | { readonly kind: "initializer"; readonly initializer: Initializer }
  | { readonly kind: "node"; readonly node: Node; readonly index: number };

/**
 * A tensor flowing through the graph. Its producer is fixed when it is
 * created; its uses are kept by Node.setInput. dtype and shape are what is
 * known about it (builders infer them where they can; passes may refine them).
 */
export class Value {
  readonly graph: Graph;
  readonly producer: Producer;
  dtype: DType | undefined;
  shape: Shape | undefined;
  #name: string;
  readonly #uses: Use[] = [];

  /** Values are created by Graph and the builders, which give them unique names. */
  constructor(graph: Graph, name: string, producer: Producer, type: { dtype?: DType; shape?: Shape } = {}) {
    this.graph = graph;
    this.#name = name;
    this.producer = producer;
    this.dtype = type.dtype;
    this.shape = type.shape === undefined ? undefined : [...type.shape];
  }

  /** Unique within the graph; a graph input's or output's name is its name in the file. */
  get name(): string {
    return this.#name;
  }

  /**
   * The uses by nodes in the graph. Nodes a RewriteBuilder built but that
   * were never inserted do not count.
   */
  get uses(): readonly Use[] {
    return this.#uses.every((u) => u.node.state === "attached") ? this.#uses : this.#uses.filter((u) => u.node.state === "attached");
  }

  /** The node whose output this is, or null for a graph input or an initializer. */
  get node(): Node | null {
    return this.producer.kind === "node" ? this.producer.node : null;
  }

  get initializer(): Initializer | null {
    return this.producer.kind === "initializer" ? this.producer.initializer : null;
  }

  get isGraphInput(): boolean {
    return this.producer.kind === "input";
  }

  get isGraphOutput(): boolean {
    return this.graph.outputs.includes(this);
  }

  /** `'name' f32 [batch, 4]`, for messages. */
  describe(): string {
    return `'${this.#name}' ${this.dtype ?? "?"} ${formatShape(this.shape)}`;
  }

  [kAddUse](node: Node, index: number): void {
    this.#uses.push({ node, index });
  }

  [kRemoveUse](node: Node, index: number): void {
    const i = this.#uses.findIndex((u) => u.node === node && u.index === index);
    if (i < 0) throw new Error(`internal error: value '${this.#name}' has no use by node '${node.name}' input ${index}`);
    this.#uses.splice(i, 1);
  }

  [kSetName](name: string): void {
    this.#name = name;
  }
}
