import * as fs from "node:fs";
import { type DType, dtypeSize } from "./dtype.js";
import {
  type GlobalHandler,
  type PickleContext,
  PickleError,
  type PicklePolicy,
  type PyBytes,
  type PyLongString,
  type PyValue,
  describeValue,
  unpickle,
} from "./pickle.js";
import {
  type OpenedFile,
  type OpenFile,
  type OpenOptions,
  type StoredTensor,
  type TensorSource,
  closeFile,
  fdOf,
  openFile,
  readFully,
  sourceFromFile,
  uint16Refusal,
} from "./tensor-source.js";
import { type ByteStore, contiguousStrides, fileStore, fortranStrides, viewProblem, viewTensor } from "./tensor-view.js";

/*
 * PaddlePaddle's `paddle.save` of a state dict (`model_state.pdparams` and
 * PaddleNLP's shards `model_state-0000k-of-0000N.pdparams`): one pickle
 * (protocol 2 to 4; PaddleNLP uses 4) of a dict name -> numpy array, plus a
 * "StructuredToParameterName@@" entry mapping each name to Paddle's
 * internal parameter name, which a loader skips. numpy pickles an array as
 * `_reconstruct(ndarray, (0,), b'b')` followed by BUILD with (1, shape,
 * dtype, fortran_order, data); the dtype as `dtype('f4', False, True)` and a
 * BUILD with its byte order. With protocol 4 the data is a bytes object that
 * stays in place in the file (read lazily); with protocol 2, which has no
 * bytes opcode, it is `_codecs.encode(<str of latin-1 characters>,
 * 'latin1')`: a UTF-8 string that decodes to the bytes, scanned once when
 * opened. PaddleNLP saves bfloat16 as uint16 arrays (numpy has no
 * bfloat16); they are read as bf16 only when the caller says the model is
 * bfloat16 (OpenOptions.uint16As).
 */

/** paddle.save's table of internal parameter names; not a tensor. */
export const PADDLE_NAME_TABLE = "StructuredToParameterName@@";
/** paddle.save's record of arrays split to fit protocol 2's 4 GB limit. */
const PADDLE_SPLIT_TABLE = "UnpackBigParamInfor@@";

/** numpy dtype codes (kind and size) and the dtype Oar holds them as; "u2" is handled apart. */
const NUMPY_DTYPES: ReadonlyMap<string, DType> = new Map([
  ["f8", "f64"],
  ["f4", "f32"],
  ["f2", "f16"],
  ["i8", "i64"],
  ["i4", "i32"],
  ["i2", "i16"],
  ["i1", "i8"],
  ["u1", "u8"],
  ["b1", "bool"],
]);

/** A numpy dtype as its constructor and BUILD describe it. */
interface NumpyDType {
  readonly code: string;
  byteorder: string;
}

/** An array as numpy's BUILD describes it; `data` is null until BUILD. */
interface NumpyArray {
  shape: readonly number[];
  dtype: NumpyDType | null;
  fortran: boolean;
  data: ArrayData | null;
}

/** An array's bytes: in place in the file, decoded latin-1 text (protocol 2), or bytes held. */
type ArrayData =
  | { readonly kind: "span"; readonly bytes: PyBytes }
  | { readonly kind: "latin1-span"; readonly text: PyLongString }
  | { readonly kind: "held"; readonly bytes: Uint8Array };

const DTYPE = "numpy dtype";
const ARRAY = "numpy array";
const LATIN1 = "latin-1 bytes";

function fail(ctx: PickleContext, message: string): never {
  throw new PickleError(`${ctx.where}: ${message}`);
}

function objectOf<T>(v: PyValue, type: string): T | null {
  return typeof v === "object" && v !== null && v.kind === "object" && v.type === type ? (v.payload as T) : null;
}

/** A str's characters as bytes, each of which must be below 256 (what encode(s, 'latin1') gives). */
function latin1(s: string, ctx: PickleContext): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) fail(ctx, `_codecs.encode of a str with a character above U+00FF, which latin-1 cannot encode`);
    out[i] = c;
  }
  return out;
}

/** The unpickling policy of a .pdparams file: numpy's array and dtype reconstruction, and protocol 2's bytes encoding. */
function numpyPolicy(): PicklePolicy {
  const globals = new Map<string, GlobalHandler>();
  const reconstruct: GlobalHandler = {
    call: (args, ctx) => {
      const [cls, shape, typecode] = args;
      const isNdarray = typeof cls === "object" && cls !== null && cls.kind === "global" && cls.name === "ndarray";
      const shapeOk = typeof shape === "object" && shape !== null && shape.kind === "tuple" && shape.items.length === 1 && shape.items[0] === 0;
      const codeOk = (typeof typecode === "object" && typecode !== null && (typecode.kind === "bytes" || objectOf(typecode, LATIN1) !== null)) || typecode === "b";
      if (args.length !== 3 || !isNdarray || !shapeOk || !codeOk) {
        fail(ctx, `numpy's _reconstruct is called with (${args.map(describeValue).join(", ")}), not (ndarray, (0,), b'b')`);
      }
      const a: NumpyArray = { shape: [], dtype: null, fortran: false, data: null };
      return { kind: "object", type: ARRAY, payload: a };
    },
  };
  const dtype: GlobalHandler = {
    call: (args, ctx) => {
      const [code, align, copy] = args;
      if (args.length !== 3 || typeof code !== "string" || typeof align !== "boolean" || typeof copy !== "boolean") {
        fail(ctx, `numpy.dtype is called with (${args.map(describeValue).join(", ")}), not (code, align, copy)`);
      }
      const m = /^([<>=|]?)([a-zA-Z]\d*)$/.exec(code as string);
      if (m === null) fail(ctx, `numpy dtype ${JSON.stringify(code)} is not a simple type code`);
      const d: NumpyDType = { code: m![2]!, byteorder: m![1] === "" ? "=" : m![1]! };
      return { kind: "object", type: DTYPE, payload: d };
    },
  };
  for (const module of ["numpy.core.multiarray", "numpy._core.multiarray"]) {
    globals.set(`${module}._reconstruct`, reconstruct);
    globals.set(`${module}.ndarray`, {});
    globals.set(`${module}.dtype`, dtype);
  }
  // numpy pickles the classes themselves under their public names.
  globals.set("numpy.ndarray", {});
  globals.set("numpy.dtype", dtype);
  // Protocol 2 has no bytes opcode: Python 3 pickles bytes as _codecs.encode(str, 'latin1'), and b'' as bytes().
  globals.set("_codecs.encode", {
    call: (args, ctx) => {
      const [text, encoding] = args;
      if (args.length !== 2 || (encoding !== "latin1" && encoding !== "latin-1")) {
        fail(ctx, `_codecs.encode is called with (${args.map(describeValue).join(", ")}), not (str, 'latin1')`);
      }
      if (typeof text === "string") return { kind: "object", type: LATIN1, payload: { kind: "held", bytes: latin1(text, ctx) } satisfies ArrayData };
      if (typeof text === "object" && text !== null && text.kind === "long-str") return { kind: "object", type: LATIN1, payload: { kind: "latin1-span", text } satisfies ArrayData };
      return fail(ctx, `_codecs.encode of ${describeValue(text!)}, not a str`);
    },
  });
  const emptyBytes: GlobalHandler = {
    call: (args, ctx) => {
      if (args.length !== 0) fail(ctx, `bytes() is called with arguments; only bytes() (empty) is allowed`);
      return { kind: "object", type: LATIN1, payload: { kind: "held", bytes: new Uint8Array(0) } satisfies ArrayData };
    },
  };
  globals.set("builtins.bytes", emptyBytes);
  globals.set("__builtin__.bytes", emptyBytes);
  return {
    describe: "a paddle.save state dict of numpy arrays",
    globals,
    build: (obj, state, ctx) => {
      const items = typeof state === "object" && state !== null && state.kind === "tuple" ? state.items : null;
      const d = objectOf<NumpyDType>(obj, DTYPE);
      if (d !== null && items !== null) {
        // (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        const [version, order, subarray, names, fields] = items;
        if ((version !== 3 && version !== 4) || typeof order !== "string" || subarray !== null || names !== null || fields !== null) {
          fail(ctx, `numpy dtype state (${items.map(describeValue).join(", ")}) is not that of a plain numeric dtype`);
        }
        d.byteorder = order as string;
        return obj;
      }
      const a = objectOf<NumpyArray>(obj, ARRAY);
      if (a !== null && a.data === null && items !== null) {
        const [version, shape, dt, fortran, data] = items;
        const dtypeOf = objectOf<NumpyDType>(dt ?? null, DTYPE);
        const isShape = typeof shape === "object" && shape !== null && shape.kind === "tuple" && shape.items.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0);
        if (items.length !== 5 || version !== 1 || !isShape || dtypeOf === null || typeof fortran !== "boolean") {
          fail(ctx, `numpy array state (${items.map(describeValue).join(", ")}) is not (1, shape, dtype, fortran_order, data)`);
        }
        a.shape = (shape as { items: readonly PyValue[] }).items as number[];
        a.dtype = dtypeOf;
        a.fortran = fortran as boolean;
        if (typeof data === "object" && data !== null && data.kind === "bytes") a.data = { kind: "span", bytes: data };
        else if (objectOf<ArrayData>(data!, LATIN1) !== null) a.data = objectOf<ArrayData>(data!, LATIN1);
        else fail(ctx, `numpy array data is ${describeValue(data!)}; only arrays of numbers are read (not object arrays)`);
        return obj;
      }
      return fail(ctx, `refuses BUILD on ${describeValue(obj)} with ${describeValue(state)}: only numpy arrays and dtypes may be built`);
    },
  };
}

/** Bytes of the file given as UTF-8 text of latin-1 characters; `index` marks every STEP decoded bytes for reads part-way in. */
interface Latin1Text {
  readonly at: number;
  readonly length: number;
  /** Decoded length. */
  readonly decoded: number;
  /** index[k]: the file offset where decoded byte k * STEP starts. */
  readonly index: readonly number[];
}

const LATIN1_STEP = 1 << 20;
const SCAN_CHUNK = 1 << 20;

/**
 * Scans a protocol-2 array's text once: checks that it is UTF-8 of
 * characters below U+0100 (what `str(data, 'latin1')` gives) and counts the
 * bytes it decodes to.
 */
function scanLatin1(handle: OpenFile, text: PyLongString, where: string): Latin1Text {
  const fd = fdOf(handle, where);
  const buf = new Uint8Array(SCAN_CHUNK + 1);
  const index: number[] = [];
  let decoded = 0;
  let pos = text.at;
  const end = text.at + text.length;
  while (pos < end) {
    const n = Math.min(SCAN_CHUNK, end - pos);
    // One more byte when there is one, so a two-byte character never straddles the chunk.
    const take = Math.min(n + 1, end - pos);
    readFully(fd, handle.path, buf.subarray(0, take), pos, where);
    let i = 0;
    while (i < n) {
      if (decoded % LATIN1_STEP === 0) index.push(pos + i);
      const b = buf[i]!;
      if (b < 0x80) i += 1;
      else if ((b === 0xc2 || b === 0xc3) && i + 1 < take && (buf[i + 1]! & 0xc0) === 0x80) i += 2;
      else throw new Error(`${where}: protocol-2 array data at offset ${pos + i} is not latin-1 text in UTF-8`);
      decoded++;
    }
    pos += i;
  }
  return { at: text.at, length: text.length, decoded, index };
}

/** A storage that is latin-1 text: reads decode from the nearest index mark. */
function latin1Store(handle: OpenFile, text: Latin1Text, what: string): ByteStore {
  return {
    length: text.decoded,
    read: (position, target) => {
      const fd = fdOf(handle, what);
      const mark = Math.floor(position / LATIN1_STEP);
      let decoded = mark * LATIN1_STEP;
      let pos = text.index[mark]!;
      const end = text.at + text.length;
      const buf = new Uint8Array(SCAN_CHUNK + 1);
      let out = 0;
      while (out < target.length) {
        const n = Math.min(SCAN_CHUNK, end - pos);
        const take = Math.min(n + 1, end - pos);
        readFully(fd, handle.path, buf.subarray(0, take), pos, what);
        let i = 0;
        while (i < n && out < target.length) {
          const b = buf[i]!;
          const v = b < 0x80 ? b : ((b & 0x03) << 6) | (buf[i + 1]! & 0x3f);
          i += b < 0x80 ? 1 : 2;
          if (decoded >= position) target[out++] = v;
          decoded++;
        }
        pos += i;
      }
    },
  };
}

/** A store over bytes already held. */
function heldStore(bytes: Uint8Array): ByteStore {
  return { length: bytes.length, read: (position, target) => target.set(bytes.subarray(position, position + target.length)) };
}

function storedArray(handle: OpenFile, file: string, name: string, a: NumpyArray, options: OpenOptions): StoredTensor {
  const where = `${file}: tensor "${name}"`;
  const d = a.dtype!;
  let dtype: DType | undefined;
  if (d.code === "u2") {
    if (options.uint16As !== "bf16") throw new Error(uint16Refusal(where, "a uint16 array"));
    dtype = "bf16";
  } else {
    dtype = NUMPY_DTYPES.get(d.code);
  }
  if (dtype === undefined) throw new Error(`${where}: numpy dtype "${d.code}" is not one Oar reads (${[...NUMPY_DTYPES.keys(), "u2"].join(", ")})`);
  const elementSize = dtypeSize(dtype);
  if (d.byteorder === ">" && elementSize > 1) throw new Error(`${where}: a big-endian array (${d.byteorder}${d.code}); Oar reads only little-endian checkpoints`);
  if (d.byteorder !== "<" && d.byteorder !== "=" && d.byteorder !== "|" && d.byteorder !== ">") throw new Error(`${where}: numpy byte order ${JSON.stringify(d.byteorder)}`);
  const data = a.data!;
  let store: ByteStore;
  let byteOffset: number;
  switch (data.kind) {
    case "span":
      store = fileStore(handle, data.bytes.at, data.bytes.length, `tensor "${name}"`);
      byteOffset = data.bytes.at;
      break;
    case "latin1-span":
      store = latin1Store(handle, scanLatin1(handle, data.text, where), `tensor "${name}"`);
      byteOffset = data.text.at;
      break;
    case "held":
      store = heldStore(data.bytes);
      byteOffset = 0;
      break;
  }
  let count = 1;
  for (const n of a.shape) count *= n;
  if (count * elementSize !== store.length) {
    throw new Error(`${where}: its data holds ${store.length} bytes, but ${d.code} [${a.shape.join(", ")}] needs ${count * elementSize}`);
  }
  const layout = { offset: 0, shape: a.shape, strides: a.fortran ? fortranStrides(a.shape) : contiguousStrides(a.shape) };
  const problem = viewProblem(layout, count);
  if (problem !== null) throw new Error(`${where}: ${problem}`);
  const info = { name, dtype, shape: a.shape, file, byteOffset, byteLength: count * elementSize };
  return viewTensor(info, store, layout, elementSize);
}

/** Opens one `paddle.save` state dict: runs its pickle under the numpy policy; array data stays in the file. */
export function openPdparamsFile(file: string, options: OpenOptions = {}): OpenedFile {
  const handle = openFile(file);
  try {
    const size = fs.fstatSync(handle.fd!).size;
    const root = unpickle({ fd: handle.fd!, file, what: null, start: 0, end: size }, numpyPolicy());
    if (typeof root !== "object" || root === null || root.kind !== "dict") {
      throw new Error(`${file}: holds ${describeValue(root)}, not a state dict (a dict of name -> numpy array)`);
    }
    if (root.entries.has(PADDLE_SPLIT_TABLE)) {
      throw new Error(`${file}: holds arrays paddle.save split into parts ("${PADDLE_SPLIT_TABLE}", protocol 2 or 3 with an array over 1 GB), which Oar does not join; save it again with protocol 4`);
    }
    const tensors = new Map<string, StoredTensor>();
    for (const [name, value] of root.entries) {
      if (name === PADDLE_NAME_TABLE) continue;
      if (typeof name !== "string") throw new Error(`${file}: the state dict has a key that is ${describeValue(name)}, not a str`);
      const a = objectOf<{ data: unknown }>(value, ARRAY) as NumpyArray | null;
      if (a === null || a.data === null) throw new Error(`${file}: "${name}" in the state dict is ${describeValue(value)}, not a numpy array`);
      tensors.set(name, storedArray(handle, file, name, a, options));
    }
    return { tensors, metadata: new Map(), handle };
  } catch (e) {
    closeFile(handle);
    throw e;
  }
}

/** Opens one `paddle.save` state dict (a `model_state.pdparams`) as a TensorSource. */
export function openPdparams(file: string, options: OpenOptions = {}): TensorSource {
  return sourceFromFile(file, "pdparams", openPdparamsFile(file, options));
}
