import pkg from "onnx-proto";
import type { onnx as wire } from "onnx-proto";

/**
 * The ONNX protobuf messages (onnx-proto's static protobufjs code). onnx-proto
 * is CommonJS, so its namespace is reached through the default export.
 */
export const onnx = pkg.onnx;

export type ModelProto = wire.IModelProto;
export type GraphProto = wire.IGraphProto;
export type NodeProto = wire.INodeProto;
export type TensorProto = wire.ITensorProto;
export type AttributeProto = wire.IAttributeProto;
export type ValueInfoProto = wire.IValueInfoProto;

/** protobufjs gives int64 fields as Long objects when the long package is installed, else as numbers. */
export type WireInt = number | { toNumber(): number; toString(): string };

/** An int64 field as a JS number; throws with `what` when it does not fit exactly. */
export function wireIntToNumber(x: WireInt | null | undefined, what: string): number {
  if (x === null || x === undefined) return 0;
  if (typeof x === "number") return x;
  const n = x.toNumber();
  if (!Number.isSafeInteger(n)) throw new Error(`${what} is ${x.toString()}, beyond what a JS number holds exactly`);
  return n;
}

/** The largest message protobuf can encode or decode (2 GiB - 1 byte). */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/**
 * IR version to write for an ai.onnx opset (the oldest that allows it, so
 * older runtimes load the file): opset up to 14 -> 7, 15-18 -> 8, 19-20 -> 9,
 * 21-22 -> 10, 23 and later -> 11.
 */
export function irVersionFor(onnxOpset: number): number {
  if (onnxOpset >= 23) return 11;
  if (onnxOpset >= 21) return 10;
  if (onnxOpset >= 19) return 9;
  if (onnxOpset >= 15) return 8;
  return 7;
}
