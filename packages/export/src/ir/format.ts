import { formatAttribute } from "./attributes.js";
import type { Graph } from "./graph.js";
import { formatShape } from "./shape.js";
import type { Value } from "./value.js";

function typeOf(v: Value): string {
  return `${v.dtype ?? "?"} ${formatShape(v.shape)}`;
}

/**
 * The graph as text, one line per input, initializer, node and output, for
 * debugging passes:
 *
 *     input  x: f32 [batch, 16]
 *     init   w: f32 [16, 8] (in-memory f32 [16, 8])
 *     node   proj: f32 [batch, 8] = MatMul 'proj'(x, w)
 *     node   probs: f32 [batch, 8] = Softmax 'softmax'(bias) axis=-1
 *     output probs
 */
export function formatGraph(graph: Graph): string {
  const opsets = [...graph.opsets].map(([d, v]) => `${d === "" ? "ai.onnx" : d}=${v}`).join(", ");
  const lines = [`graph '${graph.name}' (${opsets})`];
  for (const v of graph.inputs) lines.push(`input  ${v.name}: ${typeOf(v)}`);
  for (const v of graph.initializers) lines.push(`init   ${v.name}: ${typeOf(v)} (${v.initializer!.description})`);
  for (const n of graph.nodes) {
    const outs = n.outputs.map((v) => (v === null ? "_" : `${v.name}: ${typeOf(v)}`)).join(", ");
    const ins = n.inputs.map((v) => v?.name ?? "_").join(", ");
    const attrs = [...n.attributes].map(([k, a]) => formatAttribute(k, a)).join(" ");
    lines.push(`node   ${outs} = ${n.describe()}(${ins})${attrs === "" ? "" : ` ${attrs}`}`);
  }
  for (const v of graph.outputs) lines.push(`output ${v.name}`);
  return lines.join("\n");
}
