import { type DType, assertNever } from "@oar/tensor";
import { dtypeOfAttribute } from "./attributes.js";
import { constantNumbers, constantValue } from "./constant.js";
import type { Node } from "./node.js";
import { isForeignOpType } from "./ops.js";
import { type Dim, type Shape, broadcastShapes, formatShape, mergeShapes, shapeConflict } from "./shape.js";
import type { Value } from "./value.js";

/** What inference knows about one output. */
export interface OutputType {
  readonly dtype?: DType;
  readonly shape?: Shape;
}

/**
 * The result of inferring a node's outputs from its inputs: per output slot,
 * what is known (possibly nothing), or a sentence saying why the inputs
 * cannot go together (shapes that do not broadcast, dtypes that differ).
 */
export type Inference =
  | { readonly ok: true; readonly outputs: readonly (OutputType | undefined)[] }
  | { readonly ok: false; readonly error: string };

class InferenceError extends Error {}

function fail(message: string): never {
  throw new InferenceError(message);
}

const one = (t: OutputType): Inference => ({ ok: true, outputs: [t] });
const nothing: Inference = { ok: true, outputs: [] };

/**
 * Infers the dtype and shape of `node`'s outputs where the op is one the IR
 * models (elementwise, MatMul, shape manipulation with constant arguments,
 * the com.microsoft fused ops) and the inputs are known enough. Unknown ops
 * and unknown inputs give nothing, never a guess.
 */
export function inferOutputs(node: Node): Inference {
  try {
    return infer(node);
  } catch (e) {
    if (e instanceof InferenceError) return { ok: false, error: e.message };
    throw e;
  }
}

function present(node: Node): Value[] {
  return node.inputs.filter((v): v is Value => v !== null);
}

/** The one dtype of the given inputs, when all are known and agree. */
function sameDType(values: readonly (Value | null)[]): DType | undefined {
  let dtype: DType | undefined;
  for (const v of values) {
    if (v === null) continue;
    if (v.dtype === undefined) return undefined;
    if (dtype !== undefined && v.dtype !== dtype) {
      fail(`input dtypes differ: ${values.map((x) => (x === null ? "omitted" : x.describe())).join(", ")}`);
    }
    dtype = v.dtype;
  }
  return dtype;
}

function broadcast(values: readonly Value[]): Shape | undefined {
  if (values.some((v) => v.shape === undefined)) return undefined;
  const r = broadcastShapes(values.map((v) => v.shape!));
  if (typeof r === "string") fail(r);
  return r;
}

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) fail(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

function inputShape(node: Node, i: number): Shape | undefined {
  return node.inputs[i]?.shape;
}

function numbersOf(node: Node, i: number): number[] | null {
  const v = node.inputs[i];
  return v === undefined || v === null ? null : constantNumbers(v);
}

function infer(node: Node): Inference {
  const op = node.opType;
  if (isForeignOpType(op)) return nothing;
  const x = node.inputs[0] ?? null;
  switch (op) {
    case "Add":
    case "Sub":
    case "Mul":
    case "Div":
    case "Mod":
    case "Max":
    case "Min": {
      const ins = present(node);
      return one({ dtype: sameDType(ins), shape: broadcast(ins) });
    }
    case "Pow":
      return one({ dtype: x?.dtype, shape: broadcast(present(node)) });
    case "Equal":
    case "Less":
    case "LessOrEqual":
    case "Greater":
    case "GreaterOrEqual": {
      const ins = present(node);
      sameDType(ins);
      return one({ dtype: "bool", shape: broadcast(ins) });
    }
    case "And":
    case "Or":
    case "Xor":
      return one({ dtype: "bool", shape: broadcast(present(node)) });
    case "Where": {
      const ins = present(node);
      return one({ dtype: sameDType(ins.slice(1)), shape: broadcast(ins) });
    }
    case "Not":
    case "Sqrt":
    case "Reciprocal":
    case "Neg":
    case "Exp":
    case "Log":
    case "Abs":
    case "Sign":
    case "Floor":
    case "Ceil":
    case "Round":
    case "Sin":
    case "Cos":
    case "Tanh":
    case "Sigmoid":
    case "Relu":
    case "LeakyRelu":
    case "HardSigmoid":
    case "Softplus":
    case "Erf":
    case "Gelu":
    case "Clip":
    case "Identity":
    case "Dropout":
    case "Softmax":
    case "LogSoftmax":
    case "Trilu":
    case "CumSum":
    case "QuickGelu":
    case "FastGelu":
    case "RotaryEmbedding":
    case "LayerNormalization":
    case "SimplifiedLayerNormalization":
      return one({ dtype: x?.dtype, shape: x?.shape });
    case "IsNaN":
      return one({ dtype: "bool", shape: x?.shape });
    case "BiasGelu":
      return one({ dtype: sameDType(node.inputs), shape: broadcast(present(node)) });
    case "SkipSimplifiedLayerNormalization":
    case "SkipLayerNormalization": {
      const t = { dtype: sameDType(node.inputs.slice(0, 2)), shape: broadcast(present(node).slice(0, 2)) };
      return { ok: true, outputs: [t, undefined, undefined, t] };
    }
    case "MatMul":
      return one({ dtype: sameDType(node.inputs.slice(0, 2)), shape: matmulShape(inputShape(node, 0), inputShape(node, 1)) });
    case "MatMulInteger":
      return one({ dtype: "i32", shape: matmulShape(inputShape(node, 0), inputShape(node, 1)) });
    case "DynamicQuantizeMatMul":
      return one({ dtype: x?.dtype, shape: matmulShape(inputShape(node, 0), inputShape(node, 1)) });
    case "MatMulIntegerToFloat":
      return one({ dtype: node.inputs[2]?.dtype, shape: matmulShape(inputShape(node, 0), inputShape(node, 1)) });
    case "Gemm":
      return one({ dtype: sameDType(node.inputs.slice(0, 2)), shape: gemmShape(node) });
    case "MatMulNBits": {
      const s = x?.shape;
      const k = node.int("K");
      if (s !== undefined && s.length > 0 && shapeConflict([s[s.length - 1]!], [k]) !== null) {
        fail(`input ${x!.describe()} has last dimension ${s[s.length - 1]}, but K=${k}`);
      }
      return one({ dtype: x?.dtype, shape: s === undefined ? undefined : [...s.slice(0, -1), node.int("N")] });
    }
    case "GroupQueryAttention":
      return groupQueryAttention(node);
    case "Cast":
      return one({ dtype: dtypeOfAttribute(node.attribute("to")), shape: x?.shape });
    case "CastLike":
      return one({ dtype: node.inputs[1]?.dtype, shape: x?.shape });
    case "Shape": {
      const rank = x?.shape?.length;
      if (rank === undefined) return one({ dtype: "i64" });
      const start = clampAxis(node.int("start", 0), rank);
      const end = clampAxis(node.int("end", rank), rank);
      return one({ dtype: "i64", shape: [Math.max(0, end - start)] });
    }
    case "Size":
      return one({ dtype: "i64", shape: [] });
    case "Transpose": {
      const s = x?.shape;
      if (s === undefined) return one({ dtype: x?.dtype });
      const perm = node.ints("perm", s.map((_, i) => s.length - 1 - i));
      if (perm.length !== s.length || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
        fail(`perm [${perm.join(", ")}] is not a permutation of rank ${s.length}`);
      }
      return one({ dtype: x?.dtype, shape: perm.map((p) => s[p]!) });
    }
    case "Reshape":
      return one({ dtype: x?.dtype, shape: reshapeShape(node) });
    case "Unsqueeze":
    case "Squeeze":
      return one({ dtype: x?.dtype, shape: squeezeShape(node, op === "Unsqueeze") });
    case "Flatten": {
      const s = x?.shape;
      if (s === undefined) return one({ dtype: x?.dtype });
      const axis = node.int("axis", 1);
      const a = axis < 0 ? axis + s.length : axis;
      return one({ dtype: x?.dtype, shape: [product(s.slice(0, a)), product(s.slice(a))] });
    }
    case "Concat":
      return one({ dtype: sameDType(node.inputs), shape: concatShape(node) });
    case "Gather": {
      const data = x?.shape;
      const indices = inputShape(node, 1);
      if (data === undefined || indices === undefined) return one({ dtype: x?.dtype });
      const axis = normAxis(node.int("axis", 0), data.length, "Gather axis");
      return one({ dtype: x?.dtype, shape: [...data.slice(0, axis), ...indices, ...data.slice(axis + 1)] });
    }
    case "GatherElements":
      return one({ dtype: x?.dtype, shape: inputShape(node, 1) });
    case "Expand": {
      const target = numbersOf(node, 1);
      if (x?.shape === undefined || target === null) return one({ dtype: x?.dtype });
      const r = broadcastShapes([x.shape, target]);
      if (typeof r === "string") fail(r);
      return one({ dtype: x.dtype, shape: r });
    }
    case "ReduceMean":
    case "ReduceMax":
    case "ReduceMin":
    case "ReduceSum":
      return one({ dtype: x?.dtype, shape: reduceShape(node) });
    case "ArgMax": {
      const s = x?.shape;
      if (s === undefined) return one({ dtype: "i64" });
      const axis = normAxis(node.int("axis", 0), s.length, "ArgMax axis");
      const keep = node.int("keepdims", 1) === 1;
      return one({ dtype: "i64", shape: s.flatMap((d, i) => (i !== axis ? [d] : keep ? [1] : [])) });
    }
    case "Constant": {
      const t = constantValue(node.output());
      return t === null ? nothing : one({ dtype: t.dtype, shape: t.shape });
    }
    case "ConstantOfShape": {
      const value = node.attribute("value");
      const dtype = value?.type === "tensor" ? value.value.dtype : "f32";
      const dims = numbersOf(node, 0);
      return one({ dtype, shape: dims ?? undefined });
    }
    case "Range": {
      const [start, limit, delta] = [0, 1, 2].map((i) => numbersOf(node, i)?.[0]);
      const known = start !== undefined && limit !== undefined && delta !== undefined && delta !== 0;
      return one({ dtype: x?.dtype, shape: [known ? Math.max(Math.ceil((limit - start) / delta), 0) : null] });
    }
    case "Slice":
      return one({ dtype: x?.dtype, shape: sliceShape(node) });
    case "QuantizeLinear":
      return one({ dtype: node.inputs[2]?.dtype ?? "u8", shape: x?.shape });
    case "DequantizeLinear":
      return one({ dtype: node.inputs[1]?.dtype, shape: x?.shape });
    case "DynamicQuantizeLinear":
      return { ok: true, outputs: [{ dtype: "u8", shape: x?.shape }, { dtype: "f32", shape: [] }, { dtype: "u8", shape: [] }] };
    case "GatherBlockQuantized":
      return one({ dtype: node.inputs[2]?.dtype });
    case "GatherND":
    case "ScatterND":
    case "ScatterElements":
    case "Einsum":
    case "Split":
    case "Tile":
    case "Pad":
    case "TopK":
    case "MultiHeadAttention":
    case "FusedMatMul":
      return nothing;
    default:
      return assertNever(op);
  }
}

function clampAxis(axis: number, rank: number): number {
  return Math.min(Math.max(axis < 0 ? axis + rank : axis, 0), rank);
}

/** The product of dims when all are numbers, else unknown. */
function product(dims: Shape): Dim {
  let p = 1;
  for (const d of dims) {
    if (typeof d !== "number") return null;
    p *= d;
  }
  return p;
}

function matmulShape(a: Shape | undefined, b: Shape | undefined): Shape | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (a.length === 0 || b.length === 0) fail(`MatMul needs operands of rank >= 1, got ${formatShape(a)} and ${formatShape(b)}`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = a2[a2.length - 1]!;
  const k2 = b2[b2.length - 2]!;
  if (shapeConflict([k1], [k2]) !== null) {
    fail(`MatMul inner dimensions differ: ${formatShape(a)} x ${formatShape(b)} (${k1} vs ${k2})`);
  }
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (typeof batch === "string") fail(`MatMul batch dimensions: ${batch}`);
  const out = [...batch, ...(a.length === 1 ? [] : [a2[a2.length - 2]!]), ...(b.length === 1 ? [] : [b2[b2.length - 1]!])];
  return out;
}

function gemmShape(node: Node): Shape | undefined {
  const a = inputShape(node, 0);
  const b = inputShape(node, 1);
  if (a === undefined || b === undefined) return undefined;
  if (a.length !== 2 || b.length !== 2) fail(`Gemm needs rank-2 operands, got ${formatShape(a)} and ${formatShape(b)}`);
  const [m, ka] = node.int("transA", 0) === 1 ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [kb, n] = node.int("transB", 0) === 1 ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (shapeConflict([ka], [kb]) !== null) fail(`Gemm inner dimensions differ: ${ka} vs ${kb}`);
  return [m, n];
}

function reshapeShape(node: Node): Shape | undefined {
  const target = numbersOf(node, 1);
  if (target === null) return undefined;
  const s = inputShape(node, 0);
  const allowZero = node.int("allowzero", 0) === 1;
  const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? (s?.[i] ?? null) : d));
  const minus = out.indexOf(-1);
  if (minus < 0) return out;
  if (out.indexOf(-1, minus + 1) >= 0) fail(`Reshape target [${target.join(", ")}] has more than one -1`);
  const total = s === undefined ? null : product(s);
  const rest = product(out.filter((_, i) => i !== minus));
  if (typeof total === "number" && typeof rest === "number") {
    if (rest === 0 || total % rest !== 0) {
      fail(`cannot reshape ${formatShape(s)} (${total} elements) to [${target.join(", ")}]`);
    }
    out[minus] = total / rest;
  } else {
    out[minus] = null;
  }
  return out;
}

function squeezeShape(node: Node, unsqueeze: boolean): Shape | undefined {
  const s = inputShape(node, 0);
  if (s === undefined) return undefined;
  const axesInput = node.inputs[1] ?? null;
  const axes = axesInput === null ? null : constantNumbers(axesInput);
  if (unsqueeze) {
    if (axes === null) return undefined;
    const rank = s.length + axes.length;
    const at = new Set(axes.map((a) => normAxis(a, rank, "Unsqueeze axis")));
    const out: Dim[] = [];
    let next = 0;
    for (let i = 0; i < rank; i++) out.push(at.has(i) ? 1 : s[next++]!);
    return out;
  }
  if (axes === null) {
    if (axesInput !== null) return undefined;
    if (s.some((d) => typeof d !== "number")) return undefined;
    return s.filter((d) => d !== 1);
  }
  const at = new Set(axes.map((a) => normAxis(a, s.length, "Squeeze axis")));
  for (const a of at) {
    if (typeof s[a] === "number" && s[a] !== 1) fail(`Squeeze axis ${a} has size ${s[a]}, not 1, in ${formatShape(s)}`);
  }
  return s.filter((_, i) => !at.has(i));
}

function concatShape(node: Node): Shape | undefined {
  const shapes = present(node).map((v) => v.shape);
  if (shapes.length === 0 || shapes.some((s) => s === undefined)) return undefined;
  const known = shapes as Shape[];
  const rank = known[0]!.length;
  const axis = normAxis(node.int("axis"), rank, "Concat axis");
  let out: Shape = known[0]!;
  let along: Dim = 0;
  for (const s of known) {
    if (s.length !== rank) fail(`Concat inputs differ in rank: ${known.map(formatShape).join(", ")}`);
    const others = (t: Shape) => t.filter((_, i) => i !== axis);
    const conflict = shapeConflict(others(out), others(s));
    if (conflict !== null) fail(`Concat inputs differ off axis ${axis}: ${known.map(formatShape).join(", ")}`);
    out = mergeShapes(out, s);
    const d = s[axis]!;
    along = typeof along === "number" && typeof d === "number" ? along + d : null;
  }
  return out.map((d, i) => (i === axis ? along : d));
}

function reduceShape(node: Node): Shape | undefined {
  const s = inputShape(node, 0);
  if (s === undefined) return undefined;
  const fromInput = node.inputs[1] ?? null;
  let axes: number[] | null;
  if (fromInput !== null) axes = constantNumbers(fromInput);
  else axes = node.attribute("axes")?.type === "ints" ? [...node.ints("axes")] : [];
  if (axes === null) return undefined;
  if (axes.length === 0) {
    if (node.int("noop_with_empty_axes", 0) === 1) return s;
    axes = s.map((_, i) => i);
  }
  const at = new Set(axes.map((a) => normAxis(a, s.length, `${node.opType} axis`)));
  const keep = node.int("keepdims", 1) === 1;
  return s.flatMap((d, i) => (!at.has(i) ? [d] : keep ? [1] : []));
}

function sliceShape(node: Node): Shape | undefined {
  const s = inputShape(node, 0);
  if (s === undefined) return undefined;
  const starts = numbersOf(node, 1);
  const ends = numbersOf(node, 2);
  const axesInput = node.inputs[3] ?? null;
  const axes = axesInput === null ? (starts?.map((_, i) => i) ?? null) : constantNumbers(axesInput);
  const stepsInput = node.inputs[4] ?? null;
  const steps = stepsInput === null ? (starts?.map(() => 1) ?? null) : constantNumbers(stepsInput);
  if (axes === null) return s.map(() => null);
  const out: Dim[] = [...s];
  axes.forEach((a, j) => {
    const axis = normAxis(a, s.length, "Slice axis");
    const dim = s[axis]!;
    const start = starts?.[j];
    const end = ends?.[j];
    const step = steps?.[j];
    if (typeof dim !== "number" || start === undefined || end === undefined || step === undefined || step === 0) {
      out[axis] = null;
      return;
    }
    const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const norm = (v: number) => (v < 0 ? v + dim : v);
    if (step > 0) {
      const b = clamp(norm(start), 0, dim);
      const e = clamp(norm(end), 0, dim);
      out[axis] = Math.max(0, Math.ceil((e - b) / step));
    } else {
      const b = clamp(norm(start), -1, dim - 1);
      const e = clamp(norm(end), -1, dim - 1);
      out[axis] = Math.max(0, Math.ceil((e - b) / step));
    }
  });
  return out;
}

function groupQueryAttention(node: Node): Inference {
  const q = node.inputs[0] ?? null;
  const packed = (node.inputs[1] ?? null) === null;
  const heads = node.int("num_heads");
  const kvHeads = node.int("kv_num_heads");
  const qs = q?.shape;
  const hidden = qs?.[2];
  const pastHead = inputShape(node, 3)?.[3];
  let headSize: Dim = typeof pastHead === "number" ? pastHead : null;
  if (headSize === null && typeof hidden === "number") headSize = hidden / (packed ? heads + 2 * kvHeads : heads);
  if (typeof headSize === "number" && !Number.isInteger(headSize)) {
    fail(`query hidden size ${hidden} does not divide into ${packed ? heads + 2 * kvHeads : heads} heads`);
  }
  const batch = qs?.[0] ?? null;
  const out: OutputType = {
    dtype: q?.dtype,
    shape: qs === undefined ? undefined : [batch, qs[1] ?? null, typeof headSize === "number" ? heads * headSize : null],
  };
  const present: OutputType = { dtype: q?.dtype, shape: [batch, kvHeads, null, headSize] };
  return { ok: true, outputs: [out, present, present] };
}

/**
 * Fills in, node by node in graph order, the dtypes and shapes inference
 * knows and the values lack (after reading a file whose value infos are
 * partial). Leaves known types alone and skips nodes whose inputs conflict:
 * verify reports those.
 */
export function fillInferredTypes(graph: { readonly nodes: readonly Node[] }): void {
  for (const node of graph.nodes) {
    const inference = inferOutputs(node);
    if (!inference.ok) continue;
    node.outputs.forEach((v, i) => {
      const t = inference.outputs[i];
      if (v === null || t === undefined) return;
      v.dtype ??= t.dtype;
      v.shape ??= t.shape;
    });
  }
}
