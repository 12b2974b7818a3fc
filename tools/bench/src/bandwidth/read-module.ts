/**
 * The bandwidth probe's WebAssembly: one function,
 *
 *   read(start: i32, end: i32, passes: i32) -> i32
 *
 * which ORs every 16-byte vector of STREAMS regions of `streamBytes` each,
 * the first being [start, end) and the others following it, into v128
 * accumulators, `passes` times over, and returns lane 0 of their OR (so the
 * loads have a use). Each step reads STEP_BYTES from every region at once:
 * several sequential streams keep more cache-line fetches in flight than
 * one (measured here: a quarter more than a single stream from one core).
 * `end - start` must equal `streamBytes`, a positive multiple of
 * STEP_BYTES. The memory is imported, shared, so several workers read one
 * buffer.
 *
 * The module is assembled here, instruction by instruction, rather than
 * from a .wat file: it is 30 instructions, and this needs no assembler.
 */

const SECTION = { type: 1, import: 2, function: 3, export: 7, code: 10 } as const;
const TYPE = { i32: 0x7f, v128: 0x7b, func: 0x60, blockEmpty: 0x40 } as const;
const OP = {
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  simd: 0xfd,
} as const;
const SIMD = { v128Load: 0x00, i32x4ExtractLane: 0x1b, v128Or: 0x50 } as const;

/** Regions read side by side, and 16-byte loads per region per step: one accumulator each. */
export const STREAMS = 4;
const LOADS = 2;
const LANES = STREAMS * LOADS;
/** Bytes a step reads from each region. */
export const STEP_BYTES = LOADS * 16;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const vec = (items: readonly (readonly number[])[]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => vec([...Buffer.from(s, "utf8")].map((b) => [b]));
const section = (id: number, body: readonly number[]): number[] => [id, ...uleb(body.length), ...body];

// Locals: parameters 0-2 (start, end, passes), then the accumulators, then the cursor.
const START = 0;
const END = 1;
const PASSES = 2;
const ACC = 3;
const CURSOR = ACC + LANES;

function body(streamBytes: number): number[] {
  const code: number[] = [OP.loop, TYPE.blockEmpty, OP.localGet, START, OP.localSet, CURSOR, OP.loop, TYPE.blockEmpty];
  for (let s = 0; s < STREAMS; s++) {
    for (let k = 0; k < LOADS; k++) {
      // acc |= load(cursor + s * streamBytes + 16k), 16-byte aligned (2^4)
      const acc = ACC + s * LOADS + k;
      code.push(OP.localGet, acc, OP.localGet, CURSOR, OP.simd, ...uleb(SIMD.v128Load), 4, ...uleb(s * streamBytes + 16 * k));
      code.push(OP.simd, ...uleb(SIMD.v128Or), OP.localSet, acc);
    }
  }
  code.push(OP.localGet, CURSOR, OP.i32Const, ...sleb(STEP_BYTES), OP.i32Add, OP.localTee, CURSOR);
  code.push(OP.localGet, END, OP.i32LtU, OP.brIf, 0, OP.end);
  code.push(OP.localGet, PASSES, OP.i32Const, ...sleb(1), OP.i32Sub, OP.localTee, PASSES, OP.brIf, 0, OP.end);
  code.push(OP.localGet, ACC);
  for (let k = 1; k < LANES; k++) code.push(OP.localGet, ACC + k, OP.simd, ...uleb(SIMD.v128Or));
  code.push(OP.simd, ...uleb(SIMD.i32x4ExtractLane), 0, OP.end);
  const locals = vec([
    [...uleb(LANES), TYPE.v128],
    [...uleb(1), TYPE.i32],
  ]);
  const fn = [...locals, ...code];
  return [...uleb(fn.length), ...fn];
}

/** The module's bytes, for regions of `streamBytes` (a positive multiple of STEP_BYTES). */
export function readModuleBytes(streamBytes: number): Uint8Array {
  if (!Number.isSafeInteger(streamBytes) || streamBytes <= 0 || streamBytes % STEP_BYTES !== 0 || streamBytes * STREAMS > 2 ** 32) {
    throw new Error(`read module: regions must be a positive multiple of ${STEP_BYTES} bytes within 4 GiB in all, got ${streamBytes}`);
  }
  const maxPages = 65536;
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(SECTION.type, vec([[TYPE.func, ...vec([[TYPE.i32], [TYPE.i32], [TYPE.i32]]), ...vec([[TYPE.i32]])]])),
    // memory import: flags 3 = has a maximum, shared
    ...section(SECTION.import, vec([[...name("env"), ...name("memory"), 0x02, 0x03, ...uleb(1), ...uleb(maxPages)]])),
    ...section(SECTION.function, vec([[0]])),
    ...section(SECTION.export, vec([[...name("read"), 0x00, 0]])),
    ...section(SECTION.code, vec([body(streamBytes)])),
  ];
  return Uint8Array.from(bytes);
}
