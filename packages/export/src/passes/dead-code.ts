import type { Graph } from "../ir/graph.js";
import type { Node } from "../ir/node.js";
import type { Value } from "../ir/value.js";
import type { Pass } from "../rewrite/rule.js";

/** Removes nodes nothing reaches the graph outputs through, and initializers nothing reads, in one replacement. */
export const deadCodeElimination: Pass = {
  name: "dead-code-elimination",
  run(graph: Graph) {
    const live = new Set<Node>();
    const stack: Value[] = [...graph.outputs];
    while (stack.length > 0) {
      const n = stack.pop()!.node;
      if (n === null || live.has(n)) continue;
      live.add(n);
      for (const v of n.inputs) if (v !== null) stack.push(v);
    }
    const dead = graph.nodes.filter((n) => !live.has(n));
    const deadSet = new Set(dead);
    const unread = graph.initializers.filter((v) => v.uses.every((u) => deadSet.has(u.node)) && !v.isGraphOutput);
    if (dead.length === 0 && unread.length === 0) return { changed: false, fired: 0, rejections: [] };
    const r = graph.replace({ remove: dead, removeInitializers: unread });
    if (!r.ok) return { changed: false, fired: 0, rejections: [{ node: dead[0]?.name ?? unread[0]!.name, reason: r.reason }] };
    return { changed: true, fired: dead.length + unread.length, rejections: [] };
  },
};
