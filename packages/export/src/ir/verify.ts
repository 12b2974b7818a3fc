import { assertNever } from "@oar/tensor";
import type { Graph } from "./graph.js";
import { inferOutputs } from "./infer.js";
import type { Node } from "./node.js";
import { formatShape, shapeConflict } from "./shape.js";
import type { Value } from "./value.js";

function producerText(v: Value): string {
  switch (v.producer.kind) {
    case "input":
      return "a graph input";
    case "initializer":
      return "an initializer";
    case "node":
      return `output ${v.producer.index} of ${v.producer.node.describe()}`;
    default:
      return assertNever(v.producer);
  }
}

/**
 * Checks a graph and returns every problem found, each a sentence naming the
 * node and value (empty: the graph is valid):
 * - every node input is produced by an earlier node, a graph input or an initializer;
 * - no value name has two producers;
 * - the nodes are topologically ordered;
 * - every graph output is produced and has a dtype;
 * - use lists match node inputs;
 * - where the IR can infer an op's outputs (elementwise, MatMul, shape ops
 *   with constant arguments, the fused ops), inputs agree with each other and
 *   declared dtypes and shapes agree with the inferred ones.
 */
export function verify(graph: Graph): string[] {
  const problems: string[] = [];
  const position = new Map<Node, number>();
  graph.nodes.forEach((n, i) => {
    if (n.graph !== graph || n.state !== "attached") problems.push(`${n.describe()} is listed but ${n.state}`);
    if (position.has(n)) problems.push(`${n.describe()} is listed twice`);
    else position.set(n, i);
  });

  const byName = new Map<string, Value>();
  const claim = (v: Value) => {
    const other = byName.get(v.name);
    if (other !== undefined && other !== v) {
      problems.push(`value '${v.name}' has two producers: ${producerText(other)} and ${producerText(v)}`);
    } else byName.set(v.name, v);
  };
  graph.inputs.forEach(claim);
  graph.initializers.forEach(claim);
  for (const n of graph.nodes) for (const v of n.outputs) if (v !== null) claim(v);

  graph.nodes.forEach((n, at) => {
    n.inputs.forEach((v, i) => {
      if (v === null) return;
      const where = `${n.describe()} input ${i} '${v.name}'`;
      if (v.graph !== graph) {
        problems.push(`${where} belongs to another graph`);
        return;
      }
      if (!v.uses.some((u) => u.node === n && u.index === i)) problems.push(`${where} is missing from the value's use list`);
      const p = v.producer;
      if (p.kind === "initializer" && !graph.contains(v)) {
        problems.push(`${where} is dangling: its initializer is not in the graph`);
      } else if (p.kind === "node") {
        const from = position.get(p.node);
        if (from === undefined) {
          problems.push(`${where} is dangling: its producer ${p.node.describe()} is ${p.node.state}, not in the graph`);
        } else if (from >= at) {
          problems.push(
            `the graph is not topologically ordered: ${where} is produced by ${p.node.describe()}, ` +
              `which comes later (node ${from} vs ${at})`,
          );
        }
      }
    });
  });

  for (const v of byName.values()) {
    for (const u of v.uses) {
      if (u.node.inputs[u.index] !== v) {
        problems.push(`value '${v.name}' lists a use by ${u.node.describe()} input ${u.index}, which reads something else`);
      }
    }
  }

  for (const o of graph.outputs) {
    if (!graph.contains(o)) problems.push(`graph output '${o.name}' is not produced: ${producerText(o)} is not in the graph`);
    if (o.dtype === undefined) problems.push(`graph output '${o.name}' has no dtype`);
  }

  for (const n of graph.nodes) {
    const inference = inferOutputs(n);
    if (!inference.ok) {
      problems.push(`${n.describe()}: ${inference.error}`);
      continue;
    }
    n.outputs.forEach((v, i) => {
      const t = inference.outputs[i];
      if (v === null || t === undefined) return;
      if (t.dtype !== undefined && v.dtype !== undefined && t.dtype !== v.dtype) {
        problems.push(`${n.describe()} output ${i} '${v.name}' is declared ${v.dtype}, but its inputs give ${t.dtype}`);
      }
      const clash = t.shape !== undefined && v.shape !== undefined ? shapeConflict(v.shape, t.shape) : null;
      if (clash !== null) {
        problems.push(
          `${n.describe()} output ${i} '${v.name}' is declared ${formatShape(v.shape)}, ` +
            `but its inputs give ${formatShape(t.shape)} (${clash})`,
        );
      }
    });
  }
  return problems;
}

/** Throws an Error listing the problems verify finds; `context` says when ("after pass 'x'"). */
export function assertValid(graph: Graph, context?: string): void {
  const problems = verify(graph);
  if (problems.length === 0) return;
  const shown = problems.slice(0, 20).map((p) => `  - ${p}`);
  if (problems.length > 20) shown.push(`  ... and ${problems.length - 20} more`);
  throw new Error(`graph '${graph.name}' is invalid${context === undefined ? "" : ` ${context}`}:\n${shown.join("\n")}`);
}
