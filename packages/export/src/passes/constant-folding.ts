import { type DType, type Tensor, type TypedArray, allocData, cast, numel } from "@oar/tensor";
import { RewriteBuilder } from "../ir/builder.js";
import { constantValue, tensorNumbers } from "../ir/constant.js";
import type { Graph } from "../ir/graph.js";
import type { Node } from "../ir/node.js";
import { type OpType, isForeignOpType } from "../ir/ops.js";
import { broadcastShapes, staticShape } from "../ir/shape.js";
import type { Pass, Rejection } from "../rewrite/rule.js";

export interface ConstantFoldingOptions {
  /** Results (and constant inputs) with more elements than this are left alone. Default 4096. */
  readonly maxElements?: number;
}

/** Ops folded when every input is a constant (Shape: when its input's shape is all numbers). */
const FOLDABLE: ReadonlySet<OpType> = new Set<OpType>([
  "Constant",
  "Identity",
  "Shape",
  "Cast",
  "Reshape",
  "Squeeze",
  "Unsqueeze",
  "Concat",
  "Gather",
  "Range",
  "Add",
  "Sub",
  "Mul",
  "Div",
]);

type Folded = { readonly ok: true; readonly value: Tensor } | { readonly ok: false; readonly reason: string };

class NotFolded extends Error {}

function notFolded(reason: string): never {
  throw new NotFolded(reason);
}

/**
 * Replaces small subgraphs of constants by their values: Constant nodes
 * become initializers, Shape of a fully known shape becomes its dims, and
 * Gather, Concat, Unsqueeze, Squeeze, Cast, Reshape, Range, Add, Sub, Mul
 * and Div on small int and float constants are computed. Folds in graph
 * order, so a chain folds in one sweep. Anything over `maxElements` stays.
 */
export function constantFolding(options: ConstantFoldingOptions = {}): Pass {
  const maxElements = options.maxElements ?? 4096;
  return {
    name: "constant-folding",
    run(graph: Graph) {
      let fired = 0;
      const rejections: Rejection[] = [];
      for (const node of [...graph.nodes]) {
        if (node.state !== "attached" || isForeignOpType(node.opType) || !FOLDABLE.has(node.opType)) continue;
        if (node.outputs.length !== 1 || node.outputs[0] === null) continue;
        const folded = fold(node, maxElements);
        if (folded === null) continue;
        if (!folded.ok) {
          rejections.push({ node: node.name, reason: folded.reason });
          continue;
        }
        const out = node.output(0);
        const b = new RewriteBuilder(graph);
        const c = b.initializer(folded.value, { name: out.name });
        const r = graph.replace({ remove: [node], insert: b, rewire: [[out, c]] });
        if (r.ok) {
          fired++;
        } else {
          b.discard();
          rejections.push({ node: node.name, reason: r.reason });
        }
      }
      return { changed: fired > 0, fired, rejections };
    },
  };
}

/** The node's value, a reason it cannot be computed, or null when it is not a constant computation at all. */
function fold(node: Node, maxElements: number): Folded | null {
  const out = node.output(0);
  if (node.is("Shape")) {
    const dims = staticShape(node.input(0).shape);
    if (dims === null) return null;
    const rank = dims.length;
    const clamp = (a: number) => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
    const picked = dims.slice(clamp(node.int("start", 0)), clamp(node.int("end", rank)));
    return { ok: true, value: { dtype: "i64", shape: [picked.length], data: BigInt64Array.from(picked, BigInt) } };
  }
  const inputs: (Tensor | null)[] = [];
  for (const v of node.inputs) {
    if (v === null) {
      inputs.push(null);
      continue;
    }
    const t = constantValue(v, { maxBytes: maxElements * 8 });
    if (t === null) return null;
    inputs.push(t);
  }
  try {
    const value = evaluate(node, inputs, staticShape(out.shape));
    if (numel(value.shape) > maxElements) return null;
    return { ok: true, value };
  } catch (e) {
    if (e instanceof NotFolded) return { ok: false, reason: e.message };
    throw e;
  }
}

function arg(inputs: readonly (Tensor | null)[], i: number): Tensor {
  return inputs[i] ?? notFolded(`input ${i} is omitted`);
}

function evaluate(node: Node, inputs: readonly (Tensor | null)[], outShape: number[] | null): Tensor {
  const op = node.opType as OpType;
  switch (op) {
    case "Constant":
      return constantValue(node.output(0)) ?? notFolded("a Constant without a tensor value");
    case "Identity":
      return arg(inputs, 0);
    case "Reshape":
    case "Squeeze":
    case "Unsqueeze": {
      const x = arg(inputs, 0);
      if (outShape === null || numel(outShape) !== x.data.length) notFolded("the result shape is not known");
      return { dtype: x.dtype, shape: outShape, data: x.data };
    }
    case "Cast":
      try {
        return cast(arg(inputs, 0), node.dtype("to"));
      } catch (e) {
        return notFolded((e as Error).message);
      }
    case "Concat":
      return concat(
        inputs.filter((t): t is Tensor => t !== null),
        node.int("axis"),
      );
    case "Gather":
      return gather(arg(inputs, 0), arg(inputs, 1), node.int("axis", 0));
    case "Range":
      return range(arg(inputs, 0), arg(inputs, 1), arg(inputs, 2));
    case "Add":
    case "Sub":
    case "Mul":
    case "Div":
      return arithmetic(op, arg(inputs, 0), arg(inputs, 1));
    default:
      return notFolded(`${op} is not folded`);
  }
}

type Writable = { [i: number]: number | bigint };

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** A new tensor of `shape` whose element i is element `source(i)` of `from`. */
function remap(from: Tensor, shape: readonly number[], source: (i: number) => number): Tensor {
  const n = numel(shape);
  const data = allocData(from.dtype, n);
  for (let i = 0; i < n; i++) (data as Writable)[i] = from.data[source(i)]!;
  return { dtype: from.dtype, shape: [...shape], data };
}

function concat(ts: readonly Tensor[], axisAttr: number): Tensor {
  const first = ts[0] ?? notFolded("Concat of nothing");
  const rank = first.shape.length;
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (ts.some((t) => t.dtype !== first.dtype || t.shape.length !== rank)) notFolded("Concat inputs differ in dtype or rank");
  const shape = [...first.shape];
  shape[axis] = ts.reduce((s, t) => s + t.shape[axis]!, 0);
  const outer = numel(first.shape.slice(0, axis));
  const data = allocData(first.dtype, numel(shape)) as TypedArray;
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const t of ts) {
      const block = numel(t.shape.slice(axis));
      for (let j = 0; j < block; j++) (data as Writable)[at++] = t.data[o * block + j]!;
    }
  }
  return { dtype: first.dtype, shape, data };
}

function gather(data: Tensor, indices: Tensor, axisAttr: number): Tensor {
  const rank = data.shape.length;
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  const dim = data.shape[axis]!;
  const idx = tensorNumbers(indices).map((i) => {
    const k = i < 0 ? i + dim : i;
    if (k < 0 || k >= dim) notFolded(`Gather index ${i} is out of range for dimension ${dim}`);
    return k;
  });
  const inner = numel(data.shape.slice(axis + 1));
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  return remap(data, shape, (i) => {
    const o = Math.floor(i / (idx.length * inner));
    const k = Math.floor(i / inner) % idx.length;
    return (o * dim + idx[k]!) * inner + (i % inner);
  });
}

function range(start: Tensor, limit: Tensor, delta: Tensor): Tensor {
  const [s, l, d] = [start, limit, delta].map((t) => tensorNumbers(t)[0] ?? notFolded("Range needs scalar inputs"));
  if (d === 0) notFolded("Range delta is 0");
  const n = Math.max(Math.ceil((l! - s!) / d!), 0);
  const data = allocData(start.dtype, n);
  for (let i = 0; i < n; i++) (data as Writable)[i] = start.dtype === "i64" ? BigInt(s! + i * d!) : s! + i * d!;
  return { dtype: start.dtype, shape: [n], data };
}

const INT_DTYPES: ReadonlySet<DType> = new Set<DType>(["i64", "i32", "i16", "i8", "u8"]);

function arithmetic(op: "Add" | "Sub" | "Mul" | "Div", a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype) notFolded(`${op} of ${a.dtype} and ${b.dtype}`);
  const dtype = a.dtype;
  if (dtype === "f16" || dtype === "bf16" || dtype === "bool") notFolded(`${op} on ${dtype} is not folded`);
  const shape = broadcastShapes([a.shape, b.shape]);
  if (typeof shape === "string") notFolded(shape);
  const out = shape as number[];
  const n = numel(out);
  const sa = strides(a.shape);
  const sb = strides(b.shape);
  const so = strides(out);
  const offset = (i: number, t: Tensor, st: number[]) => {
    let at = 0;
    const lead = out.length - t.shape.length;
    for (let d = 0; d < t.shape.length; d++) {
      const coord = Math.floor(i / so[d + lead]!) % out[d + lead]!;
      at += (t.shape[d] === 1 ? 0 : coord) * st[d]!;
    }
    return at;
  };
  const data = allocData(dtype, n) as Writable;
  for (let i = 0; i < n; i++) {
    const x = a.data[offset(i, a, sa)]!;
    const y = b.data[offset(i, b, sb)]!;
    if (typeof x === "bigint" && typeof y === "bigint") {
      if (op === "Div" && y === 0n) notFolded("integer division by zero");
      data[i] = op === "Add" ? x + y : op === "Sub" ? x - y : op === "Mul" ? x * y : x / y;
    } else {
      const [p, q] = [Number(x), Number(y)];
      if (op === "Div" && q === 0 && INT_DTYPES.has(dtype)) notFolded("integer division by zero");
      const r = op === "Add" ? p + q : op === "Sub" ? p - q : op === "Mul" ? p * q : p / q;
      data[i] = op === "Div" && INT_DTYPES.has(dtype) ? Math.trunc(r) : r;
    }
  }
  return { dtype, shape: out, data: data as TypedArray };
}
