import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Tensor, assertNever } from "@oar/tensor";
import type { Attribute } from "../ir/attributes.js";
import { onnxDataTypeOf } from "../ir/dtype.js";
import type { Graph } from "../ir/graph.js";
import type { Initializer } from "../ir/initializer.js";
import type { Node } from "../ir/node.js";
import { wireOpType } from "../ir/ops.js";
import type { Shape } from "../ir/shape.js";
import type { Value } from "../ir/value.js";
import { assertValid } from "../ir/verify.js";
import {
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  PROTOBUF_LIMIT,
  type TensorProto,
  type ValueInfoProto,
  irVersionFor,
  onnx,
} from "./proto.js";

export interface WriteModelOptions {
  /** Default "model.onnx". */
  readonly fileName?: string;
  /**
   * Where initializers of at least `sizeThreshold` bytes go: "auto" (default)
   * keeps everything inside the model unless that would pass protobuf's 2 GiB
   * limit, then moves them to the data file; "always" moves them; "never"
   * keeps them (and fails over 2 GiB).
   */
  readonly externalData?: "auto" | "always" | "never";
  /** Default `${fileName}.data`; transformers.js expects "model.onnx_data". */
  readonly dataFileName?: string;
  /** Initializers smaller than this stay inside the model whatever externalData says. Default 1024 bytes. */
  readonly sizeThreshold?: number;
}

export interface WriteModelResult {
  readonly modelPath: string;
  /** null when every initializer stayed inside the model. */
  readonly dataPath: string | null;
  readonly externalTensors: number;
  readonly externalBytes: number;
  readonly embeddedBytes: number;
}

/** Tensors of at least this size start at a multiple of ALIGN_LARGE (the mmap allocation granularity), others of ALIGN_SMALL. */
const ALIGN_LARGE_FROM = 1 << 20;
const ALIGN_LARGE = 1 << 16;
const ALIGN_SMALL = 64;
/** fs.writeSync moves at most about 2 GiB per call. */
const WRITE_CHUNK = 1 << 30;
/** Room kept under the protobuf limit for nodes, names and value infos. */
const PROTO_MARGIN = 64 << 20;
const PRODUCER = { name: "oar", version: "0.1.0" };

/**
 * Writes `graph` to `dir/fileName` (and the initializers chosen for external
 * data to `dir/dataFileName`, streamed one at a time from their sources, so
 * lazy initializers are read only now and never all at once). The graph is
 * verified first. Both files are written under temporary names and renamed
 * only when everything succeeded: a failure leaves no partial output.
 */
export function writeModel(graph: Graph, dir: string, options: WriteModelOptions = {}): WriteModelResult {
  const fileName = options.fileName ?? "model.onnx";
  const dataFileName = options.dataFileName ?? `${fileName}.data`;
  const mode = options.externalData ?? "auto";
  const threshold = options.sizeThreshold ?? 1024;
  assertValid(graph, "and cannot be written");
  checkWritable(graph);

  const inits = graph.initializers;
  const total = inits.reduce((s, v) => s + v.initializer!.byteLength, 0);
  const external = new Set<Value>();
  const fits = total <= PROTOBUF_LIMIT - PROTO_MARGIN;
  if (mode === "always" || (mode === "auto" && !fits)) {
    for (const v of inits) if (v.initializer!.byteLength >= threshold) external.add(v);
  }
  const embeddedBytes = inits.filter((v) => !external.has(v)).reduce((s, v) => s + v.initializer!.byteLength, 0);
  if (embeddedBytes > PROTOBUF_LIMIT - PROTO_MARGIN) {
    const gib = (embeddedBytes / 2 ** 30).toFixed(2);
    throw new Error(
      `${path.join(dir, fileName)}: ${gib} GiB of initializers would stay inside the model, but protobuf cannot encode ` +
        `more than 2 GiB; use externalData "auto" or "always"${mode === "never" ? "" : ", or a smaller sizeThreshold"}`,
    );
  }

  fs.mkdirSync(dir, { recursive: true });
  const modelPath = path.join(dir, fileName);
  const dataPath = path.join(dir, dataFileName);
  const tag = `${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
  const modelTmp = path.join(dir, `.${fileName}.${tag}.tmp`);
  const dataTmp = path.join(dir, `.${dataFileName}.${tag}.tmp`);
  const temps = [modelTmp, dataTmp];
  try {
    const locations = external.size > 0 ? writeDataFile(dataTmp, dataFileName, [...external]) : new Map<Value, Location>();
    const model = modelProto(graph, locations);
    const bytes = onnx.ModelProto.encode(model).finish();
    if (bytes.byteLength > PROTOBUF_LIMIT) {
      throw new Error(`${modelPath}: the model proto is ${bytes.byteLength} bytes, over protobuf's 2 GiB limit`);
    }
    writeWhole(modelTmp, bytes);
    if (external.size > 0) fs.renameSync(dataTmp, dataPath);
    fs.renameSync(modelTmp, modelPath);
    return {
      modelPath,
      dataPath: external.size > 0 ? dataPath : null,
      externalTensors: external.size,
      externalBytes: [...locations.values()].reduce((s, l) => s + l.length, 0),
      embeddedBytes,
    };
  } catch (e) {
    for (const t of temps) fs.rmSync(t, { force: true });
    throw e;
  }
}

/** What writeModel needs beyond verify: types on the graph's interface, and an opset for every domain used. */
function checkWritable(graph: Graph): void {
  for (const v of graph.inputs) {
    if (v.dtype === undefined) throw new Error(`graph input '${v.name}' has no dtype; it cannot be written`);
  }
  for (const n of graph.nodes) {
    if (!graph.opsets.has(n.domain)) {
      throw new Error(`${n.describe()} is in domain "${n.domain}", which has no opset import; set graph.opsets`);
    }
  }
}

interface Location {
  readonly file: string;
  readonly offset: number;
  readonly length: number;
}

function writeDataFile(tmp: string, location: string, values: readonly Value[]): Map<Value, Location> {
  const out = new Map<Value, Location>();
  const fd = fs.openSync(tmp, "w");
  try {
    let at = 0;
    for (const v of values) {
      const init = v.initializer!;
      const align = init.byteLength >= ALIGN_LARGE_FROM ? ALIGN_LARGE : ALIGN_SMALL;
      const pad = (align - (at % align)) % align;
      if (pad > 0) at += writeAll(fd, new Uint8Array(pad), at);
      const offset = at;
      try {
        for (const chunk of init.chunks()) at += writeAll(fd, chunk, at);
      } catch (e) {
        throw new Error(`initializer '${v.name}' (${init.description}): ${(e as Error).message}`, { cause: e });
      }
      out.set(v, { file: location, offset, length: at - offset });
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

function writeAll(fd: number, bytes: Uint8Array, position: number): number {
  for (let done = 0; done < bytes.byteLength; ) {
    const piece = bytes.subarray(done, Math.min(bytes.byteLength, done + WRITE_CHUNK));
    done += fs.writeSync(fd, piece, 0, piece.byteLength, position + done);
  }
  return bytes.byteLength;
}

function writeWhole(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    writeAll(fd, bytes, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function modelProto(graph: Graph, locations: ReadonlyMap<Value, Location>): ModelProto {
  return {
    irVersion: irVersionFor(graph.opsets.get("") ?? 17),
    producerName: PRODUCER.name,
    producerVersion: PRODUCER.version,
    docString: graph.docString,
    graph: graphProto(graph, locations),
    opsetImport: [...graph.opsets].map(([domain, version]) => ({ domain, version })),
    metadataProps: [...graph.metadata].map(([key, value]) => ({ key, value })),
  };
}

function graphProto(graph: Graph, locations: ReadonlyMap<Value, Location>): GraphProto {
  const interfaceValues = new Set([...graph.inputs, ...graph.outputs]);
  const valueInfo: ValueInfoProto[] = [];
  for (const n of graph.nodes) {
    for (const v of n.outputs) if (v !== null && v.dtype !== undefined && !interfaceValues.has(v)) valueInfo.push(valueInfoProto(v));
  }
  return {
    name: graph.name,
    input: graph.inputs.map(valueInfoProto),
    output: graph.outputs.map(valueInfoProto),
    initializer: graph.initializers.map((v) => initializerProto(v.name, v.initializer!, locations.get(v))),
    node: graph.nodes.map(nodeProto),
    valueInfo,
  };
}

function valueInfoProto(v: Value): ValueInfoProto {
  return {
    name: v.name,
    type: { tensorType: { elemType: onnxDataTypeOf(v.dtype!), ...(v.shape === undefined ? {} : { shape: shapeProto(v.shape) }) } },
  };
}

function shapeProto(shape: Shape) {
  return { dim: shape.map((d) => (typeof d === "number" ? { dimValue: d } : d === null ? {} : { dimParam: d })) };
}

function initializerProto(name: string, init: Initializer, location: Location | undefined): TensorProto {
  const head = { name, dataType: onnxDataTypeOf(init.dtype), dims: [...init.shape] };
  if (location === undefined) return { ...head, rawData: init.bytes() };
  return {
    ...head,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: "location", value: location.file },
      { key: "offset", value: String(location.offset) },
      { key: "length", value: String(location.length) },
    ],
  };
}

function tensorProto(t: Tensor): TensorProto {
  const d = t.data;
  return { dataType: onnxDataTypeOf(t.dtype), dims: [...t.shape], rawData: new Uint8Array(d.buffer, d.byteOffset, d.byteLength) };
}

function nodeProto(n: Node): NodeProto {
  const { domain, name } = wireOpType(n.opType);
  return {
    name: n.name,
    opType: name,
    domain,
    input: n.inputs.map((v) => v?.name ?? ""),
    output: n.outputs.map((v) => v?.name ?? ""),
    attribute: [...n.attributes].map(([k, a]) => attributeProto(k, a)),
  };
}

const utf8 = new TextEncoder();

function attributeProto(name: string, a: Attribute): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case "int":
      return { name, type: T.INT, i: a.value };
    case "float":
      return { name, type: T.FLOAT, f: a.value };
    case "string":
      return { name, type: T.STRING, s: utf8.encode(a.value) };
    case "ints":
      return { name, type: T.INTS, ints: [...a.value] };
    case "floats":
      return { name, type: T.FLOATS, floats: [...a.value] };
    case "strings":
      return { name, type: T.STRINGS, strings: a.value.map((s) => utf8.encode(s)) };
    case "tensor":
      return { name, type: T.TENSOR, t: tensorProto(a.value) };
    default:
      return assertNever(a);
  }
}
