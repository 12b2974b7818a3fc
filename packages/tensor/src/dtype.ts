/**
 * Element types a tensor can hold. 16-bit floats are stored as their raw bits
 * (Uint16Array) and widened to f32 only where they are computed on.
 */
export type DType = "f64" | "f32" | "f16" | "bf16" | "i64" | "i32" | "i16" | "i8" | "u8" | "bool";

export const DTYPES: readonly DType[] = ["f64", "f32", "f16", "bf16", "i64", "i32", "i16", "i8", "u8", "bool"];

/** The typed array that holds each dtype's elements. */
export interface DataOf {
  f64: Float64Array;
  f32: Float32Array;
  f16: Uint16Array;
  bf16: Uint16Array;
  i64: BigInt64Array;
  i32: Int32Array;
  i16: Int16Array;
  i8: Int8Array;
  u8: Uint8Array;
  bool: Uint8Array;
}

export type TypedArray = DataOf[DType];

/** Bytes per element. */
export function dtypeSize(dtype: DType): number {
  switch (dtype) {
    case "f64":
    case "i64":
      return 8;
    case "f32":
    case "i32":
      return 4;
    case "f16":
    case "bf16":
    case "i16":
      return 2;
    case "i8":
    case "u8":
    case "bool":
      return 1;
    default:
      return assertNever(dtype);
  }
}

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

/** A typed-array view of `byteLength` bytes of `buffer` at `byteOffset` (which must be aligned to the element size). */
export function viewAs<D extends DType>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, length: number): DataOf[D] {
  switch (dtype) {
    case "f64":
      return new Float64Array(buffer, byteOffset, length) as DataOf[D];
    case "f32":
      return new Float32Array(buffer, byteOffset, length) as DataOf[D];
    case "f16":
    case "bf16":
      return new Uint16Array(buffer, byteOffset, length) as DataOf[D];
    case "i64":
      return new BigInt64Array(buffer, byteOffset, length) as DataOf[D];
    case "i32":
      return new Int32Array(buffer, byteOffset, length) as DataOf[D];
    case "i16":
      return new Int16Array(buffer, byteOffset, length) as DataOf[D];
    case "i8":
      return new Int8Array(buffer, byteOffset, length) as DataOf[D];
    case "u8":
    case "bool":
      return new Uint8Array(buffer, byteOffset, length) as DataOf[D];
    default:
      return assertNever(dtype);
  }
}

/** A new zero-filled array for `length` elements of `dtype`. */
export function allocData<D extends DType>(dtype: D, length: number): DataOf[D] {
  return viewAs(dtype, new ArrayBuffer(length * dtypeSize(dtype)), 0, length);
}

/** The floating-point dtypes a checkpoint's `torch_dtype` and the `--dtype` flags name. */
export type FloatDType = "f32" | "f16" | "bf16";

/** torch's names of the floating-point dtypes, as `config.json` and PaddleNLP's `--dtype` write them. */
export type TorchDTypeName = "float32" | "float16" | "bfloat16";

const TORCH_NAMES: Readonly<Record<FloatDType, TorchDTypeName>> = { f32: "float32", f16: "float16", bf16: "bfloat16" };

/** torch's name of a floating-point dtype: "bf16" -> "bfloat16". */
export function torchDTypeName(dtype: FloatDType): TorchDTypeName {
  return TORCH_NAMES[dtype];
}

/** The dtype torch calls `name` ("bfloat16" -> "bf16"); null for a name that is not one of the three. */
export function dtypeOfTorchName(name: TorchDTypeName): FloatDType;
export function dtypeOfTorchName(name: string): FloatDType | null;
export function dtypeOfTorchName(name: string): FloatDType | null {
  for (const dtype of ["f32", "f16", "bf16"] as const) if (TORCH_NAMES[dtype] === name) return dtype;
  return null;
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
