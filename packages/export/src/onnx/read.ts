import * as fs from "node:fs";
import * as path from "node:path";
import { type DType, type TypedArray, allocData, assertNever, dtypeSize, numel, shapeString, viewAs } from "@oar/tensor";
import type { Attribute } from "../ir/attributes.js";
import { dtypeOfOnnxDataType, onnxDataTypeName } from "../ir/dtype.js";
import { Graph } from "../ir/graph.js";
import { fillInferredTypes } from "../ir/infer.js";
import { type ByteSource, Initializer, fileRangeSource } from "../ir/initializer.js";
import { kAddInitializer, kAppendNode, kNodeName, kValueName } from "../ir/internal.js";
import { Node } from "../ir/node.js";
import { opTypeFor } from "../ir/ops.js";
import type { Dim, Shape } from "../ir/shape.js";
import { Value } from "../ir/value.js";
import {
  type AttributeProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  type WireInt,
  onnx,
  wireIntToNumber,
} from "./proto.js";

/** A file that is not a readable ONNX model, or whose external data does not hold what it claims. */
export class OnnxFileError extends Error {
  readonly file: string;

  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.name = "OnnxFileError";
    this.file = file;
  }
}

/**
 * Reads an .onnx file into the IR. Initializers in external data stay on
 * disk (each a lazy source over its byte range) after every reference has
 * been checked against its data file's size. Nodes keep the file's order
 * (verify() reports a file that is not topologically ordered;
 * graph.sortTopologically() fixes it). Unknown ops become ForeignOpTypes.
 * dtypes and shapes come from the file's value infos and, where missing, from
 * inference. An initializer also listed as a graph input (old IR versions)
 * is kept as an initializer only. Not supported, each a clear error:
 * subgraph attributes (If, Loop, Scan), sparse initializers, element types
 * the IR does not hold (strings, uint16/32/64, float8, 4-bit).
 */
export function readModel(file: string): Graph {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new OnnxFileError(file, `cannot read the file (${(e as Error).message})`, { cause: e });
  }
  const model = decodeModel(file, bytes);
  try {
    return new Reader(file, path.dirname(file)).graph(model);
  } catch (e) {
    if (e instanceof OnnxFileError) throw e;
    throw new OnnxFileError(file, (e as Error).message, { cause: e });
  }
}

function decodeModel(file: string, bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    const why = /index out of range/.test(msg)
      ? "the protobuf data ends in the middle of a field (is the file truncated?)"
      : `it is not valid protobuf (${msg})`;
    throw new OnnxFileError(file, `not an ONNX model: ${why}; ${bytes.byteLength} bytes read`, { cause: e });
  }
  const ir = wireIntToNumber(model.irVersion as WireInt, "ir_version");
  if (model.graph === null || model.graph === undefined || ir < 1 || ir > 100 || (model.opsetImport ?? []).length === 0) {
    const missing = model.graph == null ? "no graph" : ir < 1 || ir > 100 ? `IR version ${ir}` : "no opset imports";
    throw new OnnxFileError(file, `not an ONNX model: it decodes as protobuf but has ${missing} (is the file truncated?)`);
  }
  return model;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

class Reader {
  readonly #file: string;
  readonly #dir: string;
  readonly #dataFileSizes = new Map<string, number>();

  constructor(file: string, dir: string) {
    this.#file = file;
    this.#dir = dir;
  }

  #fail(message: string): never {
    throw new OnnxFileError(this.#file, message);
  }

  graph(model: ModelProto): Graph {
    const gp: GraphProto = model.graph!;
    const opsets: Record<string, number> = {};
    for (const o of model.opsetImport ?? []) {
      const domain = o.domain === "ai.onnx" ? "" : (o.domain ?? "");
      opsets[domain] = wireIntToNumber(o.version as WireInt, `opset version of domain "${domain}"`);
    }
    const g = new Graph({ name: gp.name || "graph", opsets });
    g.docString = model.docString ?? "";
    for (const p of model.metadataProps ?? []) g.metadata.set(p.key ?? "", p.value ?? "");
    if ((gp.sparseInitializer ?? []).length > 0) this.#fail("sparse initializers are not supported");

    const defined = new Map<string, Value>();
    // A name taken before comes back made unique, so a renamed value is one produced twice.
    const define = (v: Value, fileName: string, what: string) => {
      if (defined.has(fileName) || v.name !== fileName) {
        this.#fail(`value '${fileName}' is produced twice (the second time by ${what})`);
      }
      defined.set(fileName, v);
    };
    for (const t of gp.initializer ?? []) {
      const name = t.name ?? "";
      if (name === "") this.#fail("an initializer has no name");
      const init = this.#initializer(t);
      const v = new Value(g, g[kValueName](name), { kind: "initializer", initializer: init }, { dtype: init.dtype, shape: init.shape });
      define(v, name, "an initializer");
      g[kAddInitializer](v);
    }
    for (const vi of gp.input ?? []) {
      const name = vi.name ?? "";
      if (defined.get(name)?.initializer != null) continue;
      const t = this.#valueType(vi, "graph input");
      if (t.dtype === undefined) this.#fail(`graph input '${name}' has no element type`);
      if (defined.has(name)) this.#fail(`graph input '${name}' is listed twice`);
      const v = g.input(name, t.dtype, t.shape ?? []);
      if (t.shape === undefined) v.shape = undefined;
      define(v, name, "a graph input");
    }
    const nodes = (gp.node ?? []).map((np, i) => {
      const node = this.#node(g, np, i);
      node.outputs.forEach((v, k) => v !== null && define(v, np.output![k]!, `output ${k} of ${node.describe()}`));
      return node;
    });
    (gp.node ?? []).forEach((np, i) => {
      const node = nodes[i]!;
      (np.input ?? []).forEach((name, k) => {
        if (name === "") return;
        const v = defined.get(name);
        if (v === undefined) {
          this.#fail(`${node.describe()} input ${k} '${name}' is not a graph input, an initializer, or any node's output`);
        }
        node.setInput(k, v);
      });
      g[kAppendNode](node);
    });
    for (const vi of gp.valueInfo ?? []) {
      const v = defined.get(vi.name ?? "");
      if (v === undefined || v.producer.kind !== "node") continue;
      const t = this.#valueType(vi, "value info");
      v.dtype = t.dtype ?? v.dtype;
      v.shape = t.shape ?? v.shape;
    }
    for (const vi of gp.output ?? []) {
      const name = vi.name ?? "";
      const v = defined.get(name);
      if (v === undefined) this.#fail(`graph output '${name}' is not produced by anything`);
      const t = this.#valueType(vi, "graph output");
      v.dtype = t.dtype ?? v.dtype;
      v.shape = t.shape ?? v.shape;
      g.output(v, name);
    }
    fillInferredTypes(g);
    return g;
  }

  #valueType(vi: ValueInfoProto, role: string): { dtype?: DType; shape?: Shape } {
    const name = vi.name ?? "";
    const tt = vi.type?.tensorType;
    if (tt === null || tt === undefined) {
      if (vi.type === null || vi.type === undefined) return {};
      this.#fail(`${role} '${name}' is not a tensor (sequences, maps and optionals are not supported)`);
    }
    const code = tt.elemType ?? 0;
    const dtype = code === 0 ? undefined : dtypeOfOnnxDataType(code);
    if (code !== 0 && dtype === undefined) this.#fail(`${role} '${name}' has element type ${onnxDataTypeName(code)}, which the IR does not hold`);
    const dims = tt.shape?.dim;
    if (tt.shape === null || tt.shape === undefined || dims === null || dims === undefined) return { dtype };
    const shape: Dim[] = dims.map((d) => {
      if (d.dimValue != null) return wireIntToNumber(d.dimValue as WireInt, `a dimension of '${name}'`);
      if (d.dimParam != null && d.dimParam !== "") return d.dimParam;
      return null;
    });
    return { dtype, shape };
  }

  #node(g: Graph, np: NodeProto, index: number): Node {
    const opName = np.opType ?? "";
    if (opName === "") this.#fail(`node ${index} has no op_type`);
    const opType = opTypeFor(np.domain ?? "", opName);
    const name = g[kNodeName](np.name || opName);
    const attributes = new Map<string, Attribute>();
    for (const a of np.attribute ?? []) attributes.set(a.name ?? "", this.#attribute(a, `${opName} '${name}'`));
    const outputNames = (np.output ?? []).map((o) => (o === "" ? null : g[kValueName](o)));
    const inputs = (np.input ?? []).map(() => null);
    return new Node(g, { opType, name, inputs, attributes, outputNames });
  }

  #attribute(a: AttributeProto, where: string): Attribute {
    const T = onnx.AttributeProto.AttributeType;
    const name = a.name ?? "";
    const what = `${where} attribute "${name}"`;
    if (a.refAttrName) this.#fail(`${what} refers to a function attribute, which is not supported`);
    switch (a.type) {
      case T.INT:
        return { type: "int", value: wireIntToNumber(a.i as WireInt, what) };
      case T.FLOAT:
        return { type: "float", value: a.f ?? 0 };
      case T.STRING:
        return { type: "string", value: utf8.decode(a.s ?? new Uint8Array()) };
      case T.INTS:
        return { type: "ints", value: (a.ints ?? []).map((x) => wireIntToNumber(x as WireInt, what)) };
      case T.FLOATS:
        return { type: "floats", value: [...(a.floats ?? [])] };
      case T.STRINGS:
        return { type: "strings", value: (a.strings ?? []).map((s) => utf8.decode(s)) };
      case T.TENSOR:
        return { type: "tensor", value: this.#initializer(a.t ?? {}, what).toTensor() };
      case T.GRAPH:
      case T.GRAPHS:
        return this.#fail(`${what} is a subgraph (If, Loop, Scan), which is not supported`);
      default:
        return this.#fail(`${what} has attribute type ${a.type ?? "unset"}, which is not supported`);
    }
  }

  /** The data of a TensorProto: in memory, or a lazy, checked range of an external data file. */
  #initializer(t: TensorProto, context?: string): Initializer {
    const name = context ?? `tensor '${t.name ?? ""}'`;
    const code = t.dataType ?? 0;
    const dtype = dtypeOfOnnxDataType(code);
    if (dtype === undefined) this.#fail(`${name} has element type ${onnxDataTypeName(code)}, which the IR does not hold`);
    const shape = (t.dims ?? []).map((d) => {
      const n = wireIntToNumber(d as WireInt, `a dimension of ${name}`);
      if (n < 0) this.#fail(`${name} has a negative dimension ${n}`);
      return n;
    });
    if (t.segment != null) this.#fail(`${name} is segmented, which is not supported`);
    const count = numel(shape);
    const expected = count * dtypeSize(dtype);
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      return new Initializer(dtype, shape, { kind: "lazy", source: this.#external(t, name, expected) });
    }
    const raw = t.rawData;
    if (raw !== null && raw !== undefined && (raw.byteLength > 0 || count === 0)) {
      if (raw.byteLength !== expected) {
        this.#fail(`${name} has ${raw.byteLength} bytes of raw data, but ${dtype} ${shapeString(shape)} needs ${expected}`);
      }
      const copy = new Uint8Array(raw);
      return new Initializer(dtype, shape, { kind: "memory", data: viewAs(dtype, copy.buffer, 0, count) });
    }
    return new Initializer(dtype, shape, { kind: "memory", data: this.#typedFields(t, dtype, count, name) });
  }

  #typedFields(t: TensorProto, dtype: DType, count: number, name: string): TypedArray {
    const out = allocData(dtype, count);
    const fill = (src: readonly (number | WireInt)[] | null | undefined, field: string, set: (i: number, x: number | WireInt) => void) => {
      const list = src ?? [];
      if (list.length !== count) {
        this.#fail(`${name} has ${list.length} values in ${field}, but its shape needs ${count}`);
      }
      list.forEach((x, i) => set(i, x));
    };
    switch (dtype) {
      case "f32":
        fill(t.floatData, "float_data", (i, x) => ((out as Float32Array)[i] = x as number));
        break;
      case "f64":
        fill(t.doubleData, "double_data", (i, x) => ((out as Float64Array)[i] = x as number));
        break;
      case "i64":
        fill(t.int64Data as WireInt[], "int64_data", (i, x) => ((out as BigInt64Array)[i] = BigInt(x.toString())));
        break;
      case "i32":
      case "i16":
      case "i8":
      case "u8":
      case "bool":
      case "f16":
      case "bf16":
        fill(t.int32Data, "int32_data", (i, x) => ((out as Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array)[i] = x as number));
        break;
      default:
        assertNever(dtype);
    }
    return out;
  }

  #external(t: TensorProto, name: string, expected: number): ByteSource {
    const entries = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
    const location = entries.get("location");
    if (location === undefined || location === "") this.#fail(`${name} is external but names no location`);
    const resolved = path.resolve(this.#dir, location);
    const rel = path.relative(this.#dir, resolved);
    if (path.isAbsolute(location) || rel.startsWith("..")) {
      this.#fail(`${name}: external data location "${location}" is outside the model's directory`);
    }
    const num = (key: string, fallback: number | undefined): number => {
      const s = entries.get(key);
      if (s === undefined) {
        if (fallback === undefined) this.#fail(`${name}: external data has no ${key}`);
        return fallback;
      }
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) this.#fail(`${name}: external data ${key} "${s}" is not a byte count`);
      return Number(s);
    };
    const offset = num("offset", 0);
    const length = num("length", expected);
    if (length !== expected) {
      this.#fail(`${name}: external data length is ${length} bytes, but its dtype and shape need ${expected}`);
    }
    let size = this.#dataFileSizes.get(resolved);
    if (size === undefined) {
      try {
        size = fs.statSync(resolved).size;
      } catch (e) {
        throw new OnnxFileError(this.#file, `${name}: cannot open its external data file ${resolved} (${(e as Error).message})`, {
          cause: e,
        });
      }
      this.#dataFileSizes.set(resolved, size);
    }
    if (offset + length > size) {
      this.#fail(
        `${name} points at bytes ${offset}..${offset + length} of external data file ${resolved}, ` +
          `which has only ${size} bytes (is the data file truncated or from another export?)`,
      );
    }
    return fileRangeSource({ path: resolved, offset, length, description: `${resolved} bytes ${offset}..${offset + length} (${name})` });
  }
}
