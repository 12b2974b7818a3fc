import type { Attribute } from "../ir/attributes.js";
import type { Graph } from "../ir/graph.js";
import type { Node } from "../ir/node.js";
import { isCommutative, isForeignOpType } from "../ir/ops.js";
import type { Value } from "../ir/value.js";
import type { Pass, Rejection } from "../rewrite/rule.js";

/** Constants and tensor attributes larger than this are never compared. */
const MAX_COMPARED_BYTES = 4096;

/**
 * Common-subexpression elimination: a node computing the same op with the
 * same attributes on the same inputs as an earlier one is replaced by it,
 * and so is a small initializer equal to an earlier one. Foreign ops are left
 * alone (they may not be deterministic).
 */
export const commonSubexpressionElimination: Pass = {
  name: "common-subexpression-elimination",
  run(graph: Graph) {
    const ids = new Map<Value, number>();
    const id = (v: Value | null) => {
      if (v === null) return "-";
      let k = ids.get(v);
      if (k === undefined) ids.set(v, (k = ids.size));
      return String(k);
    };
    let fired = 0;
    const rejections: Rejection[] = [];
    const note = (name: string, r: ReturnType<Graph["replace"]>) => {
      if (r.ok) fired++;
      else rejections.push({ node: name, reason: r.reason });
    };

    const constants = new Map<string, Value>();
    for (const v of [...graph.initializers]) {
      const init = v.initializer!;
      if (init.byteLength > MAX_COMPARED_BYTES || init.data.kind !== "memory") continue;
      const key = `${init.dtype}|${init.shape.join(",")}|${Buffer.from(init.bytes()).toString("base64")}`;
      const first = constants.get(key);
      if (first === undefined) constants.set(key, v);
      else note(v.name, graph.replace({ rewire: [[v, first]], removeInitializers: [v] }));
    }
    for (const v of graph.initializers) id(v);

    const seen = new Map<string, Node>();
    for (const node of [...graph.nodes]) {
      if (node.state !== "attached" || isForeignOpType(node.opType)) continue;
      const attrs = attributeKey(node.attributes);
      if (attrs === null) continue;
      const inputs = node.inputs.map(id);
      if (isCommutative(node.opType) && inputs.length === 2) inputs.sort();
      const key = `${node.opType}|${attrs}|${inputs.join(",")}|${node.outputs.map((o) => (o === null ? "-" : "o")).join("")}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, node);
        continue;
      }
      const rewire = node.outputs.flatMap((o, i) => (o === null ? [] : [[o, first.outputs[i]!] as const]));
      note(node.name, graph.replace({ remove: [node], rewire }));
    }
    return { changed: fired > 0, fired, rejections };
  },
};

/** A canonical string of the attributes, or null when one is a tensor too large to compare. */
function attributeKey(attributes: ReadonlyMap<string, Attribute>): string | null {
  const parts: string[] = [];
  for (const [name, a] of [...attributes].sort(([x], [y]) => (x < y ? -1 : 1))) {
    if (a.type === "tensor") {
      const d = a.value.data;
      if (d.byteLength > MAX_COMPARED_BYTES) return null;
      parts.push(`${name}:tensor:${a.value.dtype}:${a.value.shape.join(",")}:${Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("base64")}`);
    } else {
      parts.push(`${name}:${a.type}:${JSON.stringify(a.value)}`);
    }
  }
  return parts.join(";");
}
