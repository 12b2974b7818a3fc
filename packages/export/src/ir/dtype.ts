import { type DType, assertNever } from "@oar/tensor";

/**
 * Element types on the ONNX wire (TensorProto.DataType). The IR itself uses
 * @oar/tensor's DType everywhere; these codes appear only in files and in the
 * int attributes that name a type (Cast's `to`).
 */
export function onnxDataTypeOf(dtype: DType): number {
  switch (dtype) {
    case "f32":
      return 1;
    case "u8":
      return 2;
    case "i8":
      return 3;
    case "i16":
      return 5;
    case "i32":
      return 6;
    case "i64":
      return 7;
    case "bool":
      return 9;
    case "f16":
      return 10;
    case "f64":
      return 11;
    case "bf16":
      return 16;
    default:
      return assertNever(dtype);
  }
}

const ONNX_TYPE_NAMES: readonly string[] = [
  "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL",
  "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
  "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1",
];

/** The DType of an ONNX TensorProto.DataType code, or undefined for types the IR does not hold (strings, uint16, ...). */
export function dtypeOfOnnxDataType(code: number): DType | undefined {
  switch (code) {
    case 1:
      return "f32";
    case 2:
      return "u8";
    case 3:
      return "i8";
    case 5:
      return "i16";
    case 6:
      return "i32";
    case 7:
      return "i64";
    case 9:
      return "bool";
    case 10:
      return "f16";
    case 11:
      return "f64";
    case 16:
      return "bf16";
    default:
      return undefined;
  }
}

/** "FLOAT16 (10)", for messages. */
export function onnxDataTypeName(code: number): string {
  return `${ONNX_TYPE_NAMES[code] ?? "unknown type"} (${code})`;
}

export function isFloatDType(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16" || dtype === "f64";
}
