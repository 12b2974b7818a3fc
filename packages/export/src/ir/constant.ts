import { type Tensor, bf16ArrayToF32, f16ArrayToF32, numel } from "@oar/tensor";
import type { Value } from "./value.js";

/** Constants at most this large are read for shape inference and pattern checks. */
export const SMALL_CONSTANT_BYTES = 1 << 16;

/**
 * The data of `value` when it is a constant: an initializer of at most
 * `maxBytes` (read now if lazy) or the output of a Constant node. Null for
 * anything else, and for Constant's string forms.
 */
export function constantValue(value: Value, options: { readonly maxBytes?: number } = {}): Tensor | null {
  const maxBytes = options.maxBytes ?? SMALL_CONSTANT_BYTES;
  const init = value.initializer;
  if (init !== null) return init.byteLength <= maxBytes ? init.toTensor() : null;
  const node = value.node;
  if (node === null || !node.is("Constant")) return null;
  const [name, attr] = [...node.attributes][0] ?? [];
  if (attr === undefined || node.attributes.size !== 1) return null;
  switch (name) {
    case "value":
      return attr.type === "tensor" ? attr.value : null;
    case "value_float":
      return attr.type === "float" ? { dtype: "f32", shape: [], data: Float32Array.of(attr.value) } : null;
    case "value_floats":
      return attr.type === "floats" ? { dtype: "f32", shape: [attr.value.length], data: Float32Array.from(attr.value) } : null;
    case "value_int":
      return attr.type === "int" ? { dtype: "i64", shape: [], data: BigInt64Array.of(BigInt(attr.value)) } : null;
    case "value_ints":
      return attr.type === "ints"
        ? { dtype: "i64", shape: [attr.value.length], data: BigInt64Array.from(attr.value, (x) => BigInt(x)) }
        : null;
    default:
      return null;
  }
}

/** The elements of a small constant as JS numbers (i64 through Number), or null when `value` is not one. */
export function constantNumbers(value: Value, options: { readonly maxElements?: number } = {}): number[] | null {
  const t = constantValue(value);
  if (t === null || numel(t.shape) > (options.maxElements ?? 4096)) return null;
  return tensorNumbers(t);
}

/** The single element of a one-element constant (any rank), or null. */
export function constantScalar(value: Value): number | null {
  const xs = constantNumbers(value, { maxElements: 1 });
  return xs !== null && xs.length === 1 ? xs[0]! : null;
}

/** The elements of a tensor as JS numbers (f16/bf16 decoded, i64 through Number). */
export function tensorNumbers(t: Tensor): number[] {
  if (t.dtype === "f16") return Array.from(f16ArrayToF32(t.data as Uint16Array));
  if (t.dtype === "bf16") return Array.from(bf16ArrayToF32(t.data as Uint16Array));
  return Array.from(t.data as ArrayLike<number | bigint>, (x) => Number(x));
}
