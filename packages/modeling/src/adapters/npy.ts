import * as fs from "node:fs";
import * as path from "node:path";
import { f16ArrayToF32, f32ArrayToF16, numel } from "@oar/tensor";
import { AdapterError } from "./errors.js";

/*
 * NumPy's .npy format (numpy/lib/format.py): the magic "\x93NUMPY", a major
 * and minor version byte, the header length (uint16 little-endian for 1.0,
 * uint32 for 2.0 and 3.0), then a Python dict literal such as
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and a final newline so the data starts aligned (64 bytes since
 * NumPy 1.14), then the data. Version 3.0 only allows UTF-8 in the header.
 *
 * The reader accepts little-endian f2, f4 and f8 in C order and checks that
 * the data is exactly as long as the shape says. Anything else is an error
 * naming the file: PaddleNLP writes pre_caches.npy with np.save, which gives
 * version 1.0, '<f4' or '<f2', C order.
 */

/** The element types the reader accepts, by their NumPy descr. */
export type NpyDtype = "<f2" | "<f4" | "<f8";

export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array; // [numel(shape)], widened or narrowed to f32
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

function itemSize(dtype: NpyDtype): number {
  switch (dtype) {
    case "<f2":
      return 2;
    case "<f4":
      return 4;
    case "<f8":
      return 8;
  }
}

/** Reads a .npy file into f32. */
export function readNpy(file: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new AdapterError(`${file}: cannot be read: ${(e as Error).message}`);
  }
  return parseNpy(bytes, file);
}

/** Parses the bytes of a .npy file; `where` names it in errors. */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new AdapterError(`${where}: not a .npy file (it does not start with \\x93NUMPY)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  let headerStart: number;
  let headerLength: number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1 && minor === 0) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (bytes.length < 12) throw new AdapterError(`${where}: .npy version ${major}.0 file ends inside its header length`);
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw new AdapterError(`${where}: .npy format version ${major}.${minor} is not one of 1.0, 2.0, 3.0`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new AdapterError(`${where}: .npy header says ${headerLength} bytes, but the file has only ${bytes.length - headerStart} after the preamble`);
  }
  const headerBytes = bytes.subarray(headerStart, dataStart);
  let header: string;
  try {
    header = new TextDecoder(major === 3 ? "utf-8" : "latin1", { fatal: true }).decode(headerBytes);
  } catch {
    throw new AdapterError(`${where}: .npy header is not valid ${major === 3 ? "UTF-8" : "Latin-1"}`);
  }
  const { descr, fortranOrder, shape } = parseHeader(header, where);
  if (descr !== "<f2" && descr !== "<f4" && descr !== "<f8") {
    throw new AdapterError(`${where}: .npy dtype '${descr}' is not supported (expected little-endian float: '<f2', '<f4' or '<f8')`);
  }
  if (fortranOrder && shape.filter((d) => d !== 1).length > 1) {
    throw new AdapterError(`${where}: .npy array is in Fortran order; only C order is supported (save it with np.ascontiguousarray)`);
  }
  const n = numel(shape);
  const size = itemSize(descr);
  const want = n * size;
  const have = bytes.length - dataStart;
  if (have !== want) {
    throw new AdapterError(`${where}: .npy data holds ${have} bytes, but ${descr} [${shape.join(", ")}] needs ${want}`);
  }
  // Copy into a fresh buffer: the file's data offset need not be aligned to the element size.
  const raw = new Uint8Array(want);
  raw.set(bytes.subarray(dataStart));
  return { dtype: descr, shape, data: toF32(descr, raw.buffer, n) };
}

function toF32(dtype: NpyDtype, buffer: ArrayBuffer, n: number): Float32Array {
  switch (dtype) {
    case "<f2":
      return f16ArrayToF32(new Uint16Array(buffer, 0, n));
    case "<f4":
      return new Float32Array(buffer, 0, n);
    case "<f8":
      return Float32Array.from(new Float64Array(buffer, 0, n));
  }
}

/**
 * Parses the header dict. Python writes it with repr(), so this accepts
 * exactly that grammar: string keys in single or double quotes, values that
 * are a quoted string, True/False, or a tuple of non-negative integers, an
 * optional trailing comma, then spaces and a newline.
 */
function parseHeader(header: string, where: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const bad = (what: string): AdapterError => new AdapterError(`${where}: .npy header ${what}: ${JSON.stringify(header.trimEnd())}`);
  let i = 0;
  const skip = (): void => {
    while (i < header.length && (header[i] === " " || header[i] === "\t")) i++;
  };
  const expect = (c: string): void => {
    skip();
    if (header[i] !== c) throw bad(`expected '${c}' at character ${i}`);
    i++;
  };
  const str = (): string => {
    skip();
    const q = header[i];
    if (q !== "'" && q !== '"') throw bad(`expected a quoted string at character ${i}`);
    const end = header.indexOf(q, i + 1);
    if (end < 0) throw bad("has an unterminated string");
    const s = header.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): string | boolean | number[] => {
    skip();
    const c = header[i];
    if (c === "'" || c === '"') return str();
    if (header.startsWith("True", i)) {
      i += 4;
      return true;
    }
    if (header.startsWith("False", i)) {
      i += 5;
      return false;
    }
    if (c === "(") {
      i++;
      const dims: number[] = [];
      for (;;) {
        skip();
        if (header[i] === ")") {
          i++;
          return dims;
        }
        const m = /^\d+/.exec(header.slice(i));
        if (m === null) throw bad(`expected a dimension at character ${i}`);
        const d = Number(m[0]);
        if (!Number.isSafeInteger(d)) throw bad(`has a dimension too large to hold: ${m[0]}`);
        dims.push(d);
        i += m[0].length;
        skip();
        if (header[i] === ",") i++;
        else if (header[i] !== ")") throw bad(`expected ',' or ')' at character ${i}`);
      }
    }
    throw bad(`has a value it cannot read at character ${i}`);
  };
  expect("{");
  const fields = new Map<string, string | boolean | number[]>();
  for (;;) {
    skip();
    if (header[i] === "}") {
      i++;
      break;
    }
    const key = str();
    expect(":");
    if (fields.has(key)) throw bad(`repeats the key '${key}'`);
    fields.set(key, value());
    skip();
    if (header[i] === ",") i++;
    else if (header[i] !== "}") throw bad(`expected ',' or '}' at character ${i}`);
  }
  if (!/^[ \t]*\n?$/.test(header.slice(i))) throw bad("has text after the dict");
  const keys = [...fields.keys()].sort();
  if (keys.join(",") !== "descr,fortran_order,shape") {
    throw bad(`must hold exactly 'descr', 'fortran_order' and 'shape', found ${keys.map((k) => `'${k}'`).join(", ")}`);
  }
  const descr = fields.get("descr");
  const fortranOrder = fields.get("fortran_order");
  const shape = fields.get("shape");
  if (typeof descr !== "string") throw bad("'descr' must be a string");
  if (typeof fortranOrder !== "boolean") throw bad("'fortran_order' must be True or False");
  if (!Array.isArray(shape)) throw bad("'shape' must be a tuple");
  return { descr, fortranOrder, shape };
}

/**
 * Writes `data` [numel(shape)] as a version 1.0 .npy file in C order, as
 * np.save does: '<f4', or '<f2' (rounded to nearest even) when asked.
 */
export function writeNpy(file: string, array: { readonly shape: readonly number[]; readonly data: Float32Array; readonly dtype?: "<f2" | "<f4" }): void {
  const n = numel(array.shape);
  if (array.data.length !== n) {
    throw new AdapterError(`${file}: .npy of shape [${array.shape.join(", ")}] needs ${n} elements, got ${array.data.length}`);
  }
  const dtype = array.dtype ?? "<f4";
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(", ")})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shape}, }`;
  // As numpy/lib/format.py pads: 1 to 64 spaces, then "\n", so the data starts at a multiple of 64.
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = dict + " ".repeat(pad) + "\n";
  if (header.length > 0xffff) throw new AdapterError(`${file}: .npy header too long for format version 1.0`);
  const head = Buffer.alloc(10);
  MAGIC.forEach((b, i) => head.writeUInt8(b, i));
  head.writeUInt8(1, 6);
  head.writeUInt8(0, 7);
  head.writeUInt16LE(header.length, 8);
  const body = dtype === "<f4" ? array.data : f32ArrayToF16(array.data);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, "latin1"), new Uint8Array(body.buffer, body.byteOffset, body.byteLength)]));
}
