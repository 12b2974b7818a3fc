import type { Node } from "./node.js";

interface Link {
  prev: Node | null;
  next: Node | null;
  /** Increasing along the list: comparing keys compares positions in O(1). */
  key: number;
}

/** Below this gap between neighbouring keys, the keys are renumbered. */
const MIN_GAP = 1e-6;

/**
 * The graph's node order: a linked list with order keys, so that inserting,
 * removing and comparing positions cost O(1) and a rewrite never pays for the
 * size of the graph. The array view is built on demand and cached until the
 * next change.
 */
export class NodeList {
  #head: Node | null = null;
  #tail: Node | null = null;
  readonly #links = new Map<Node, Link>();
  #array: Node[] | null = [];

  has(n: Node): boolean {
    return this.#links.has(n);
  }

  /** The position key of a node in the list (larger is later). */
  key(n: Node): number {
    return this.#link(n).key;
  }

  next(n: Node): Node | null {
    return this.#link(n).next;
  }

  prev(n: Node): Node | null {
    return this.#link(n).prev;
  }

  get tail(): Node | null {
    return this.#tail;
  }

  toArray(): readonly Node[] {
    if (this.#array === null) {
      const out: Node[] = [];
      for (let n = this.#head; n !== null; n = this.#links.get(n)!.next) out.push(n);
      this.#array = out;
    }
    return this.#array;
  }

  append(n: Node): void {
    this.insertAfter(this.#tail, [n]);
  }

  /** Inserts `nodes`, in order, right after `anchor` (null: at the front). */
  insertAfter(anchor: Node | null, nodes: readonly Node[]): void {
    if (nodes.length === 0) return;
    let next = anchor === null ? this.#head : this.#link(anchor).next;
    let lo = anchor === null ? (next === null ? 0 : this.#link(next).key - nodes.length - 1) : this.#link(anchor).key;
    let hi = next === null ? lo + nodes.length + 1 : this.#link(next).key;
    if ((hi - lo) / (nodes.length + 1) < MIN_GAP) {
      this.#renumber();
      next = anchor === null ? this.#head : this.#link(anchor).next;
      lo = anchor === null ? -nodes.length - 1 : this.#link(anchor).key;
      hi = next === null ? lo + nodes.length + 1 : this.#link(next).key;
    }
    const step = (hi - lo) / (nodes.length + 1);
    let prev = anchor;
    nodes.forEach((n, i) => {
      if (this.#links.has(n)) throw new Error(`internal error: ${n.describe()} is already in the node list`);
      this.#links.set(n, { prev, next: null, key: lo + step * (i + 1) });
      if (prev === null) this.#head = n;
      else this.#link(prev).next = n;
      prev = n;
    });
    this.#link(prev!).next = next;
    if (next === null) this.#tail = prev;
    else this.#link(next).prev = prev;
    this.#array = null;
  }

  remove(n: Node): void {
    const l = this.#link(n);
    if (l.prev === null) this.#head = l.next;
    else this.#link(l.prev).next = l.next;
    if (l.next === null) this.#tail = l.prev;
    else this.#link(l.next).prev = l.prev;
    this.#links.delete(n);
    this.#array = null;
  }

  /** Replaces the whole order. */
  reset(order: readonly Node[]): void {
    this.#links.clear();
    this.#head = null;
    this.#tail = null;
    this.#array = null;
    this.insertAfter(null, order);
  }

  #renumber(): void {
    let k = 0;
    for (let n = this.#head; n !== null; n = this.#links.get(n)!.next) this.#links.get(n)!.key = k++;
  }

  #link(n: Node): Link {
    const l = this.#links.get(n);
    if (l === undefined) throw new Error(`internal error: ${n.describe()} is not in the node list`);
    return l;
  }
}
