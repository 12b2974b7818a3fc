import { type DType, type Tensor, assertNever } from "@oar/tensor";
import { dtypeOfOnnxDataType, onnxDataTypeOf } from "./dtype.js";
import { type AttrKind, type OpType, attrSpecOf } from "./ops.js";

/**
 * A node attribute as it is on the wire. The type is explicit because ONNX
 * is strict about it: onnxruntime rejects an int where the schema says float.
 */
export type Attribute =
  | { readonly type: "int"; readonly value: number }
  | { readonly type: "float"; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "ints"; readonly value: readonly number[] }
  | { readonly type: "floats"; readonly value: readonly number[] }
  | { readonly type: "strings"; readonly value: readonly string[] }
  | { readonly type: "tensor"; readonly value: Tensor };

export type AttributeType = Attribute["type"];

function checkInt(x: number, what: string): number {
  if (!Number.isSafeInteger(x)) throw new Error(`${what} must be an integer, got ${x}`);
  return x;
}

/** Raw attributes for foreign nodes (known ops take plain values through their schema). */
export function intAttr(value: number): Attribute {
  return { type: "int", value: checkInt(value, "an int attribute") };
}
export function floatAttr(value: number): Attribute {
  return { type: "float", value };
}
export function stringAttr(value: string): Attribute {
  return { type: "string", value };
}
export function intsAttr(value: readonly number[]): Attribute {
  return { type: "ints", value: value.map((x) => checkInt(x, "every element of an ints attribute")) };
}
export function floatsAttr(value: readonly number[]): Attribute {
  return { type: "floats", value: [...value] };
}

/**
 * Converts a builder's attribute value to its wire form using op's schema:
 * `epsilon: 1` becomes a float, `axis: -1` an int, Cast's `to: "f16"` the int
 * code of FLOAT16. Throws naming the op and attribute when the schema does not
 * list it or the value does not fit the kind.
 */
export function attributeFromSchema(op: OpType, name: string, value: unknown): Attribute {
  const spec = attrSpecOf(op, name);
  if (spec === undefined) throw new Error(`${op} has no attribute "${name}" in the IR's op schema`);
  const where = `${op} attribute "${name}" (${spec.kind})`;
  const kind: AttrKind = spec.kind;
  switch (kind) {
    case "int":
      if (typeof value !== "number") throw new Error(`${where} must be a number, got ${typeof value}`);
      return { type: "int", value: checkInt(value, where) };
    case "float":
      if (typeof value !== "number") throw new Error(`${where} must be a number, got ${typeof value}`);
      return { type: "float", value };
    case "string":
      if (typeof value !== "string") throw new Error(`${where} must be a string, got ${typeof value}`);
      return { type: "string", value };
    case "ints":
    case "floats": {
      if (!Array.isArray(value) || !value.every((x) => typeof x === "number")) {
        throw new Error(`${where} must be an array of numbers`);
      }
      const list = value as number[];
      if (kind === "ints") return { type: "ints", value: list.map((x) => checkInt(x, where)) };
      return { type: "floats", value: [...list] };
    }
    case "tensor":
      if (typeof value !== "object" || value === null || !("dtype" in value) || !("data" in value)) {
        throw new Error(`${where} must be a Tensor`);
      }
      return { type: "tensor", value: value as Tensor };
    case "dtype":
      if (typeof value !== "string") throw new Error(`${where} must be a DType such as "f32"`);
      return { type: "int", value: onnxDataTypeOf(value as DType) };
    default:
      return assertNever(kind);
  }
}

/** The DType an int attribute names (Cast's `to`), or undefined when it names a type the IR does not hold. */
export function dtypeOfAttribute(attr: Attribute | undefined): DType | undefined {
  return attr?.type === "int" ? dtypeOfOnnxDataType(attr.value) : undefined;
}

/** A short rendering for messages: `axis=-1`, `epsilon=1e-6f`, `perm=[0,2,1,3]`. */
export function formatAttribute(name: string, a: Attribute): string {
  switch (a.type) {
    case "int":
      return `${name}=${a.value}`;
    case "float":
      return `${name}=${a.value}f`;
    case "string":
      return `${name}=${JSON.stringify(a.value)}`;
    case "ints":
    case "floats":
      return `${name}=[${a.value.join(",")}]`;
    case "strings":
      return `${name}=[${a.value.map((s) => JSON.stringify(s)).join(",")}]`;
    case "tensor":
      return `${name}=tensor<${a.value.dtype}>[${a.value.shape.join(",")}]`;
    default:
      return assertNever(a);
  }
}

/** Exact equality of two attributes, tensors compared element by element. */
export function attributesEqual(a: Attribute, b: Attribute): boolean {
  switch (a.type) {
    case "int":
    case "float":
    case "string":
      return b.type === a.type && Object.is(a.value, b.value);
    case "ints":
    case "floats":
    case "strings":
      return b.type === a.type && a.value.length === b.value.length && a.value.every((x, i) => Object.is(x, b.value[i]));
    case "tensor": {
      if (b.type !== "tensor") return false;
      const x = a.value;
      const y = b.value;
      return (
        x.dtype === y.dtype &&
        x.shape.length === y.shape.length &&
        x.shape.every((d, i) => d === y.shape[i]) &&
        x.data.length === y.data.length &&
        x.data.every((v: number | bigint, i: number) => Object.is(v, y.data[i]))
      );
    }
    default:
      return assertNever(a);
  }
}
