import * as fs from "node:fs";
import * as path from "node:path";
import { type DType, assertNever, dtypeSize } from "./dtype.js";
import { type Tensor, numel, shapeString } from "./tensor.js";
import {
  IO_CHUNK,
  type OpenedFile,
  type OpenOptions,
  type TensorInfo,
  type TensorSource,
  closeFile,
  contiguousTensor,
  openFile,
  readFully,
  sourceFromFile,
  uint16Refusal,
} from "./tensor-source.js";

/*
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON, then the data section.
 * The JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end]}
 * (offsets relative to the data section), plus an optional "__metadata__"
 * object of string values.
 *
 * The reader is strict, like the reference implementation: every number in
 * the header is checked before it is used, and the tensors must tile the data
 * section exactly (sorted by offset, each begins where the previous ends, the
 * last ends at the end of the file: no holes, no overlaps, no trailing bytes).
 *
 * PaddleNLP writes bfloat16 tensors as "U16" (numpy has no bfloat16); they
 * are read as bf16 when the caller says so (OpenOptions.uint16As), and
 * refused otherwise.
 */

/** The reference implementation's limit on the JSON header. */
const MAX_HEADER_BYTES = 100_000_000;

/** safetensors dtype names for the dtypes Oar holds. */
export function safetensorsDtypeName(dtype: DType): string {
  switch (dtype) {
    case "f64":
      return "F64";
    case "f32":
      return "F32";
    case "f16":
      return "F16";
    case "bf16":
      return "BF16";
    case "i64":
      return "I64";
    case "i32":
      return "I32";
    case "i16":
      return "I16";
    case "i8":
      return "I8";
    case "u8":
      return "U8";
    case "bool":
      return "BOOL";
    default:
      return assertNever(dtype);
  }
}

const FROM_SAFETENSORS: ReadonlyMap<string, DType> = new Map([
  ["F64", "f64"],
  ["F32", "f32"],
  ["F16", "f16"],
  ["BF16", "bf16"],
  ["I64", "i64"],
  ["I32", "i32"],
  ["I16", "i16"],
  ["I8", "i8"],
  ["U8", "u8"],
  ["BOOL", "bool"],
]);

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A checked header: every tensor's place in the file, and the metadata. */
interface ParsedFile {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: ReadonlyMap<string, string>;
}

/**
 * Parses and checks the header of the safetensors file open on `fd`.
 * `file` names it in errors.
 */
function parseHeader(fd: number, file: string, options: OpenOptions): ParsedFile {
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) {
    throw new Error(`${file}: file is ${fileSize} bytes, shorter than the 8-byte header length that starts a safetensors file`);
  }
  const lenBytes = new Uint8Array(8);
  readFully(fd, file, lenBytes, 0, "header length");
  const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (headerLen > BigInt(fileSize - 8)) {
    throw new Error(`${file}: header length ${headerLen} runs past the end of the file (${fileSize - 8} bytes follow the length)`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new Error(`${file}: header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit of the format`);
  }
  const n = Number(headerLen);
  const headerBytes = new Uint8Array(n);
  readFully(fd, file, headerBytes, 8, "header");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new Error(`${file}: header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) {
    throw new Error(`${file}: header must be a JSON object, found ${Array.isArray(header) ? "an array" : JSON.stringify(header)}`);
  }
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const metadata = new Map<string, string>();
  const entries: { info: TensorInfo; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      if (!isPlainObject(value)) throw new Error(`${file}: "__metadata__" must be an object of strings`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") {
          throw new Error(`${file}: "__metadata__" key "${k}" must be a string, found ${JSON.stringify(v)}`);
        }
        metadata.set(k, v);
      }
      continue;
    }
    const where = `${file}: tensor "${name}"`;
    if (!isPlainObject(value)) throw new Error(`${where}: entry must be an object with dtype, shape and data_offsets`);
    const { dtype: dtypeName, shape, data_offsets: offsets } = value;
    if (typeof dtypeName !== "string") throw new Error(`${where}: "dtype" must be a string, found ${JSON.stringify(dtypeName)}`);
    if (dtypeName === "U16" && options.uint16As !== "bf16") throw new Error(uint16Refusal(where, "U16"));
    const dtype = dtypeName === "U16" ? "bf16" : FROM_SAFETENSORS.get(dtypeName);
    if (dtype === undefined) {
      throw new Error(`${where}: unsupported dtype "${dtypeName}" (supported: ${[...FROM_SAFETENSORS.keys()].join(", ")}, and U16 as PaddleNLP's bfloat16)`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new Error(`${where}: "shape" must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      throw new Error(`${where}: "data_offsets" must be [begin, end] of non-negative integers, found ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new Error(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      throw new Error(`${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes)`);
    }
    const dims = shape as number[];
    // Past 2^53 the product is no longer exact; it could never match a real byte count anyway.
    let need = dims.includes(0) ? 0 : dtypeSize(dtype);
    for (const d of dims) {
      need *= d;
      if (need > Number.MAX_SAFE_INTEGER) break;
    }
    if (need !== end - begin) {
      const needText = need > Number.MAX_SAFE_INTEGER ? "more than 2^53 bytes" : `${need}`;
      throw new Error(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtypeName} ${shapeString(dims)} needs ${needText}`);
    }
    entries.push({
      info: { name, dtype, shape: dims, file, byteOffset: dataStart + begin, byteLength: end - begin },
      begin,
      end,
    });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let prev: string | null = null;
  for (const e of entries) {
    if (e.begin < covered) {
      throw new Error(`${file}: tensor "${e.info.name}": data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev}", which ends at ${covered}`);
    }
    if (e.begin > covered) {
      throw new Error(`${file}: tensor "${e.info.name}": data_offsets [${e.begin}, ${e.end}] leave a hole: bytes [${covered}, ${e.begin}) of the data section belong to no tensor`);
    }
    covered = e.end;
    prev = e.info.name;
  }
  if (covered !== dataSize) {
    throw new Error(`${file}: the tensors cover ${covered} bytes of data but ${dataSize} follow the header (holes or trailing bytes)`);
  }
  return { tensors: new Map(entries.map((e) => [e.info.name, e.info])), metadata };
}

/** Opens one file and checks its header (closing the file again if it is malformed). */
export function openSafetensorsFile(file: string, options: OpenOptions = {}): OpenedFile {
  const handle = openFile(file);
  try {
    const parsed = parseHeader(handle.fd!, file, options);
    const tensors = new Map([...parsed.tensors].map(([name, info]) => [name, contiguousTensor(info, handle)]));
    return { tensors, metadata: parsed.metadata, handle };
  } catch (e) {
    closeFile(handle);
    throw e;
  }
}

/** Opens one safetensors file, reading and checking only its header. */
export function openSafetensors(file: string, options: OpenOptions = {}): TensorSource {
  return sourceFromFile(file, "safetensors", openSafetensorsFile(file, options));
}

/** A tensor the streaming writer will write: its shape and dtype, known before its data. */
export interface TensorPlan {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface StreamingWriteOptions {
  /** Every tensor, in any order (the file holds them largest element size first, so each is aligned to it). */
  readonly tensors: readonly TensorPlan[];
  /**
   * The bytes of one tensor as a sequence of typed arrays (little-endian, as
   * the host holds them), produced when that tensor is written; together
   * they must hold exactly numel(shape) * dtypeSize(dtype) bytes. Called once
   * per tensor, in file order.
   */
  readonly data: (plan: TensorPlan) => Iterable<ArrayBufferView>;
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes a safetensors file tensor by tensor, so a checkpoint far larger than
 * memory can be produced. Atomic: it writes a temporary file beside `file`
 * and renames it into place only when everything was written; on any error
 * the temporary file is removed and `file` is untouched.
 */
export function writeSafetensorsStreaming(file: string, options: StreamingWriteOptions): void {
  const seen = new Set<string>();
  for (const p of options.tensors) {
    if (p.name === "" || p.name === "__metadata__") throw new Error(`${file}: cannot write a tensor named "${p.name}"`);
    if (seen.has(p.name)) throw new Error(`${file}: tensor "${p.name}" given twice`);
    seen.add(p.name);
    if (!p.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`${file}: tensor "${p.name}": shape ${shapeString(p.shape)} must hold non-negative integers`);
    }
  }
  // Stable sort: larger elements first keeps every tensor aligned to its element size.
  const order = [...options.tensors].sort((a, b) => dtypeSize(b.dtype) - dtypeSize(a.dtype));
  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== "string") throw new Error(`${file}: metadata "${k}" must be a string, found ${JSON.stringify(v)}`);
    }
    header["__metadata__"] = { ...options.metadata };
  }
  let offset = 0;
  for (const p of order) {
    const bytes = numel(p.shape) * dtypeSize(p.dtype);
    header[p.name] = { dtype: safetensorsDtypeName(p.dtype), shape: [...p.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  // Space padding so the data section starts 8-byte aligned, as the format recommends.
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(8 + padded, 0x20);
  head.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(head, 8);

  const dir = path.dirname(file);
  tmpCounter += 1;
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${tmpCounter}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, "wx");
  } catch (e) {
    throw new Error(`${file}: cannot create a temporary file in ${dir}: ${(e as Error).message}`);
  }
  try {
    writeFully(fd, head);
    for (const p of order) {
      const want = numel(p.shape) * dtypeSize(p.dtype);
      let got = 0;
      for (const chunk of options.data(p)) {
        const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (got + bytes.length > want) {
          throw new Error(`${file}: tensor "${p.name}": data holds more than the ${want} bytes ${safetensorsDtypeName(p.dtype)} ${shapeString(p.shape)} needs`);
        }
        writeFully(fd, bytes);
        got += bytes.length;
      }
      if (got !== want) {
        throw new Error(`${file}: tensor "${p.name}": data holds ${got} bytes but ${safetensorsDtypeName(p.dtype)} ${shapeString(p.shape)} needs ${want}`);
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

let tmpCounter = 0;

function writeFully(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done));
  }
}

/**
 * Writes tensors already in memory to a safetensors file, atomically (see
 * writeSafetensorsStreaming). The file is written tensor by tensor; no copy
 * of the whole file is built.
 */
export function writeSafetensors(
  file: string,
  tensors: Iterable<readonly [string, Tensor]> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const list: (readonly [string, Tensor])[] = isIterable(tensors) ? [...tensors] : Object.entries(tensors);
  const byName = new Map<string, Tensor>();
  for (const [name, t] of list) {
    if (byName.has(name)) throw new Error(`${file}: tensor "${name}" given twice`);
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`${file}: tensor "${name}": ${t.dtype} ${shapeString(t.shape)} needs ${numel(t.shape)} elements, its data holds ${t.data.length}`);
    }
    byName.set(name, t);
  }
  writeSafetensorsStreaming(file, {
    tensors: list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    data: (p) => [byName.get(p.name)!.data],
    ...(metadata === undefined ? {} : { metadata }),
  });
}

function isIterable<T>(x: Iterable<T> | object): x is Iterable<T> {
  return typeof (x as Partial<Iterable<T>>)[Symbol.iterator] === "function";
}
