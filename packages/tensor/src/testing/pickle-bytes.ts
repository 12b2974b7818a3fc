/**
 * Test support: pickles assembled opcode by opcode, for the unpickler's
 * tests (malformed and hostile programs no library would write) and small
 * numpy arrays in the exact opcodes numpy emits. Not exported from index.ts.
 */

/** Opcodes by name (pickletools' names). */
export const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT1: 0x4b,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  APPEND: 0x61,
  APPENDS: 0x65,
  BUILD: 0x62,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  EMPTY_TUPLE: 0x29,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  LIST: 0x6c,
  DICT: 0x64,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  BINGET: 0x68,
  BINPUT: 0x71,
  MEMOIZE: 0x94,
  STACK_GLOBAL: 0x93,
  NEWOBJ: 0x81,
  OBJ: 0x6f,
  EXT1: 0x82,
  NEXT_BUFFER: 0x97,
  SHORT_BINSTRING: 0x55,
} as const;

type Part = number | Uint8Array | readonly Part[];

/** Concatenates opcodes (numbers) and encoded arguments. */
export function bytes(...parts: Part[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const add = (p: Part): void => {
    if (typeof p === "number") chunks.push(new Uint8Array([p]));
    else if (p instanceof Uint8Array) chunks.push(p);
    else for (const x of p) add(x);
  };
  for (const p of parts) add(p);
  return new Uint8Array(Buffer.concat(chunks));
}

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

export const proto = (n: number): Uint8Array => bytes(0x80, n);
export const frame = (n: number): Uint8Array => bytes(0x95, new Uint8Array(new BigUint64Array([BigInt(n)]).buffer));
/** BINUNICODE. */
export const str = (s: string): Uint8Array => {
  const b = new TextEncoder().encode(s);
  return bytes(0x58, u32(b.length), b);
};
/** BINBYTES (or SHORT_BINBYTES under 256 bytes). */
export const binbytes = (b: Uint8Array): Uint8Array => (b.length < 256 ? bytes(0x43, b.length, b) : bytes(0x42, u32(b.length), b));
/** BININT (signed 32-bit). */
export const int = (n: number): Uint8Array => bytes(0x4a, new Uint8Array(new Int32Array([n]).buffer));
/** LONG1 of `n` little-endian bytes. */
export const long1 = (...b: number[]): Uint8Array => bytes(0x8a, b.length, b);
/** GLOBAL "module\nname\n". */
export const global = (module: string, name: string): Uint8Array => bytes(0x63, new TextEncoder().encode(`${module}\n${name}\n`));
/** INST "module\nname\n". */
export const inst = (module: string, name: string): Uint8Array => bytes(0x69, new TextEncoder().encode(`${module}\n${name}\n`));
/** A tuple of ints (MARK ... TUPLE). */
export const intTuple = (ns: readonly number[]): Uint8Array => bytes(OP.MARK, ns.map(int), OP.TUPLE);

/** A whole pickle: PROTO `protocol`, the body, STOP. */
export function pickle(protocol: number, ...body: Part[]): Uint8Array {
  return bytes(proto(protocol), body, OP.STOP);
}

/** numpy's dtype construction: dtype(code, False, True) then BUILD with its byte order. */
export function numpyDtype(code: string, byteorder = "<"): Uint8Array {
  return bytes(global("numpy", "dtype"), str(code), OP.NEWFALSE, OP.NEWTRUE, OP.TUPLE3, OP.REDUCE, OP.MARK, int(3), str(byteorder), OP.NONE, OP.NONE, OP.NONE, int(-1), int(-1), int(0), OP.TUPLE, OP.BUILD);
}

/** Bytes as protocol 2 writes them: _codecs.encode(<latin-1 text>, 'latin1'). */
export function latin1Bytes(b: Uint8Array): Uint8Array {
  return bytes(global("_codecs", "encode"), str(Buffer.from(b).toString("latin1")), str("latin1"), OP.TUPLE2, OP.REDUCE);
}

/** A numpy array as numpy's __reduce__ pickles it: _reconstruct(ndarray, (0,), b'b') then BUILD (1, shape, dtype, fortran, data). */
export function numpyArray(options: { code: string; shape: readonly number[]; data: Uint8Array; fortran?: boolean; protocol?: 2 | 4; byteorder?: string }): Uint8Array {
  const p2 = options.protocol === 2;
  const encoded = p2 ? latin1Bytes(options.data) : binbytes(options.data);
  return bytes(
    global("numpy._core.multiarray", "_reconstruct"),
    global("numpy", "ndarray"),
    intTuple([0]),
    p2 ? latin1Bytes(new TextEncoder().encode("b")) : binbytes(new TextEncoder().encode("b")),
    OP.TUPLE3,
    OP.REDUCE,
    OP.MARK,
    int(1),
    intTuple(options.shape),
    numpyDtype(options.code, options.byteorder),
    options.fortran === true ? OP.NEWTRUE : OP.NEWFALSE,
    encoded,
    OP.TUPLE,
    OP.BUILD,
  );
}

/** A dict of str -> value pickles: EMPTY_DICT MARK key value ... SETITEMS. */
export function dict(entries: readonly (readonly [string, Uint8Array])[]): Uint8Array {
  return bytes(OP.EMPTY_DICT, OP.MARK, entries.map(([k, v]) => [str(k), v]), OP.SETITEMS);
}
