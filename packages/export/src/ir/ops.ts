import type { DType, Tensor } from "@oar/tensor";

/**
 * The operators the IR knows by name: the standard ONNX ops a traced or
 * foreign decoder graph uses, and the com.microsoft contrib ops the fusion and
 * quantization passes target (onnxruntime's CPU provider has kernels for all
 * of them). Each entry gives the domain and the attributes with their wire
 * kind, so builders type-check attribute names and write `softcap: 0` as a
 * float, not an int. A kind ending in "!" is a required attribute.
 *
 * Any other op (read from a foreign file) is a ForeignOpType: "domain::Name".
 */
export type AttrKind = "int" | "float" | "string" | "ints" | "floats" | "tensor" | "dtype";
type AttrSpec = AttrKind | `${AttrKind}!`;

interface OpSchema {
  readonly domain: "" | "com.microsoft";
  readonly attrs: Readonly<Record<string, AttrSpec>>;
  /** Binary ops whose two inputs may be swapped: patterns match them in either order. */
  readonly commutative?: true;
}

const none = {} as const;
const onnx = <A extends Readonly<Record<string, AttrSpec>>>(attrs: A) => ({ domain: "", attrs }) as const;
const ms = <A extends Readonly<Record<string, AttrSpec>>>(attrs: A) => ({ domain: "com.microsoft", attrs }) as const;
const commutative = { domain: "", attrs: none, commutative: true } as const;
const reduce = onnx({ axes: "ints", keepdims: "int", noop_with_empty_axes: "int" });
const norm = onnx({ axis: "int", epsilon: "float", stash_type: "int" });

export const OP_SCHEMAS = {
  // Elementwise arithmetic and logic.
  Add: commutative,
  Sub: onnx(none),
  Mul: commutative,
  Div: onnx(none),
  Pow: onnx(none),
  Mod: onnx({ fmod: "int" }),
  Max: onnx(none),
  Min: onnx(none),
  Equal: commutative,
  Less: onnx(none),
  LessOrEqual: onnx(none),
  Greater: onnx(none),
  GreaterOrEqual: onnx(none),
  And: commutative,
  Or: commutative,
  Xor: commutative,
  Not: onnx(none),
  Where: onnx(none),
  // Unary math.
  Sqrt: onnx(none),
  Reciprocal: onnx(none),
  Neg: onnx(none),
  Exp: onnx(none),
  Log: onnx(none),
  Abs: onnx(none),
  Sign: onnx(none),
  Floor: onnx(none),
  Ceil: onnx(none),
  Round: onnx(none),
  Sin: onnx(none),
  Cos: onnx(none),
  Tanh: onnx(none),
  Sigmoid: onnx(none),
  Relu: onnx(none),
  LeakyRelu: onnx({ alpha: "float" }),
  HardSigmoid: onnx({ alpha: "float", beta: "float" }),
  Softplus: onnx(none),
  Erf: onnx(none),
  Gelu: onnx({ approximate: "string" }),
  IsNaN: onnx(none),
  Clip: onnx(none),
  Identity: onnx(none),
  Dropout: onnx({ seed: "int" }),
  // Normalization and attention building blocks.
  Softmax: onnx({ axis: "int" }),
  LogSoftmax: onnx({ axis: "int" }),
  LayerNormalization: norm,
  /** onnxruntime registers this contrib op in the default domain. */
  SimplifiedLayerNormalization: norm,
  Trilu: onnx({ upper: "int" }),
  CumSum: onnx({ exclusive: "int", reverse: "int" }),
  // Products.
  MatMul: onnx(none),
  MatMulInteger: onnx(none),
  Gemm: onnx({ alpha: "float", beta: "float", transA: "int", transB: "int" }),
  Einsum: onnx({ equation: "string!" }),
  // Reductions.
  ReduceMean: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  /** Axes come as an input since opset 13. */
  ReduceSum: onnx({ keepdims: "int", noop_with_empty_axes: "int" }),
  ArgMax: onnx({ axis: "int", keepdims: "int", select_last_index: "int" }),
  TopK: onnx({ axis: "int", largest: "int", sorted: "int" }),
  // Shape and data movement.
  Shape: onnx({ start: "int", end: "int" }),
  Size: onnx(none),
  Reshape: onnx({ allowzero: "int" }),
  Transpose: onnx({ perm: "ints" }),
  Squeeze: onnx(none),
  Unsqueeze: onnx(none),
  Flatten: onnx({ axis: "int" }),
  Concat: onnx({ axis: "int!" }),
  Split: onnx({ axis: "int", num_outputs: "int" }),
  Slice: onnx(none),
  Expand: onnx(none),
  Tile: onnx(none),
  Pad: onnx({ mode: "string" }),
  Gather: onnx({ axis: "int" }),
  GatherElements: onnx({ axis: "int" }),
  GatherND: onnx({ batch_dims: "int" }),
  ScatterND: onnx({ reduction: "string" }),
  ScatterElements: onnx({ axis: "int", reduction: "string" }),
  // Types and constants.
  Cast: onnx({ to: "dtype!", saturate: "int" }),
  CastLike: onnx({ saturate: "int" }),
  Constant: onnx({
    value: "tensor",
    value_float: "float",
    value_floats: "floats",
    value_int: "int",
    value_ints: "ints",
    value_string: "string",
  }),
  ConstantOfShape: onnx({ value: "tensor" }),
  Range: onnx(none),
  // Quantization.
  QuantizeLinear: onnx({ axis: "int", saturate: "int", block_size: "int" }),
  DequantizeLinear: onnx({ axis: "int", block_size: "int" }),
  DynamicQuantizeLinear: onnx(none),
  // com.microsoft contrib ops.
  SkipSimplifiedLayerNormalization: ms({ epsilon: "float" }),
  SkipLayerNormalization: ms({ epsilon: "float" }),
  RotaryEmbedding: ms({
    interleaved: "int",
    is_packed_batching: "int",
    num_heads: "int",
    rotary_embedding_dim: "int",
    scale: "float",
  }),
  GroupQueryAttention: ms({
    num_heads: "int!",
    kv_num_heads: "int!",
    scale: "float",
    softcap: "float",
    do_rotary: "int",
    rotary_interleaved: "int",
    local_window_size: "int",
    smooth_softmax: "int",
    qk_output: "int",
  }),
  MultiHeadAttention: ms({ num_heads: "int!", mask_filter_value: "float", scale: "float", unidirectional: "int" }),
  MatMulNBits: ms({ K: "int!", N: "int!", bits: "int", block_size: "int!", accuracy_level: "int" }),
  DynamicQuantizeMatMul: ms(none),
  MatMulIntegerToFloat: ms(none),
  GatherBlockQuantized: ms({ gather_axis: "int", quantize_axis: "int", block_size: "int", bits: "int" }),
  FusedMatMul: ms({ alpha: "float", transA: "int", transB: "int", transBatchA: "int", transBatchB: "int" }),
  QuickGelu: ms({ alpha: "float" }),
  FastGelu: ms(none),
  BiasGelu: ms(none),
} as const satisfies Record<string, OpSchema>;

/** An op the IR knows; a typo is a compile error. */
export type OpType = keyof typeof OP_SCHEMAS;

/** An op from a foreign graph that the IR does not know, written "domain::Name" ("ai.onnx::Hardmax", "com.example::Foo"). */
export type ForeignOpType = `${string}::${string}`;

export const MS_DOMAIN = "com.microsoft";

type SchemaAttrs<T extends OpType> = (typeof OP_SCHEMAS)[T]["attrs"];
type KindOf<S> = S extends `${infer K extends AttrKind}!` ? K : S;

/** The TypeScript value of an attribute of each kind, as builders take it. */
export type AttrValueOf<K> = K extends "int" | "float"
  ? number
  : K extends "string"
    ? string
    : K extends "ints" | "floats"
      ? readonly number[]
      : K extends "tensor"
        ? Tensor
        : K extends "dtype"
          ? DType
          : never;

type RequiredAttrNames<T extends OpType> = {
  [K in keyof SchemaAttrs<T>]: SchemaAttrs<T>[K] extends `${string}!` ? K : never;
}[keyof SchemaAttrs<T>];

/** The attributes of op T, typed: `AttrsOf<"Softmax">` is `{ axis?: number }`. */
export type AttrsOf<T extends OpType> = {
  readonly [K in RequiredAttrNames<T>]: AttrValueOf<KindOf<SchemaAttrs<T>[K]>>;
} & {
  readonly [K in Exclude<keyof SchemaAttrs<T>, RequiredAttrNames<T>>]?: AttrValueOf<KindOf<SchemaAttrs<T>[K]>>;
};

/** True when op T has at least one required attribute. */
export type HasRequiredAttrs<T extends OpType> = [RequiredAttrNames<T>] extends [never] ? false : true;

export function isOpType(name: string): name is OpType {
  return Object.hasOwn(OP_SCHEMAS, name);
}

export function isForeignOpType(op: OpType | ForeignOpType): op is ForeignOpType {
  return !isOpType(op);
}

export function isCommutative(op: OpType): boolean {
  const schema: OpSchema = OP_SCHEMAS[op];
  return schema.commutative === true;
}

/** The wire kind of attribute `name` of op, and whether it is required; undefined when the schema does not list it. */
export function attrSpecOf(op: OpType, name: string): { kind: AttrKind; required: boolean } | undefined {
  const attrs: Readonly<Record<string, AttrSpec>> = OP_SCHEMAS[op].attrs;
  if (!Object.hasOwn(attrs, name)) return undefined;
  const spec = attrs[name]!;
  return spec.endsWith("!") ? { kind: spec.slice(0, -1) as AttrKind, required: true } : { kind: spec as AttrKind, required: false };
}

export function requiredAttrNames(op: OpType): string[] {
  const attrs: Readonly<Record<string, AttrSpec>> = OP_SCHEMAS[op].attrs;
  return Object.keys(attrs).filter((k) => attrs[k]!.endsWith("!"));
}

/**
 * The op type for (domain, name) as read from a file: the known OpType when
 * the IR knows that op in that domain, else a ForeignOpType.
 */
export function opTypeFor(domain: string, name: string): OpType | ForeignOpType {
  const d = domain === "ai.onnx" ? "" : domain;
  if (isOpType(name) && OP_SCHEMAS[name].domain === d) return name;
  return `${d === "" ? "ai.onnx" : d}::${name}`;
}

/** The (domain, op_type) pair written to a file. */
export function wireOpType(op: OpType | ForeignOpType): { domain: string; name: string } {
  if (isOpType(op)) return { domain: OP_SCHEMAS[op].domain, name: op };
  const at = op.lastIndexOf("::");
  const domain = op.slice(0, at);
  return { domain: domain === "ai.onnx" ? "" : domain, name: op.slice(at + 2) };
}
