import { type DType, type DataOf, type TypedArray, allocData, assertNever } from "./dtype.js";
import { type Tensor, shapeString } from "./tensor.js";

/*
 * IEEE 754 conversions between f32 and the two 16-bit float formats, all
 * rounding to nearest, ties to even. 16-bit values travel as their raw bits
 * (a number in 0..0xffff, or a Uint16Array). NaN stays NaN (quieted, sign
 * and the top payload bits kept), infinities and signed zeros are kept,
 * subnormals are produced and read exactly, and f32 values too large for
 * f16 become infinity, as IEEE rounding says.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The f16 bits nearest to the f32 whose bits are `u` (a uint32). */
export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= 0x7f800000) {
    // Infinity, or NaN: keep the payload's top bits and set the quiet bit.
    return a === 0x7f800000 ? sign | 0x7c00 : sign | 0x7e00 | ((a >>> 13) & 0x3ff);
  }
  // 65520 is halfway between 65504 (the largest f16) and 65536; the tie goes to the even side, infinity.
  if (a >= 0x477ff000) return sign | 0x7c00;
  if (a >= 0x38800000) {
    // Normal in f16: rebias the exponent by 127 - 15, then round 23 mantissa bits to 10.
    // A carry out of the mantissa correctly bumps the exponent.
    const r = a - 0x38000000;
    return sign | ((r + 0xfff + ((r >>> 13) & 1)) >>> 13);
  }
  // 2^-25 is halfway between 0 and the smallest subnormal 2^-24: ties to even give 0.
  if (a <= 0x33000000) return sign;
  // Subnormal in f16: the value in units of 2^-24 is the 24-bit significand shifted right.
  const exp = a >>> 23; // 102..112
  const sig = (a & 0x7fffff) | 0x800000;
  const shift = 126 - exp; // 14..24
  const half = 1 << (shift - 1);
  const rem = sig & ((1 << shift) - 1);
  let q = sig >>> shift;
  if (rem > half || (rem === half && (q & 1) === 1)) q += 1;
  // q may round up to 0x400, which is exactly the smallest normal's encoding.
  return sign | q;
}

/** The f32 bits of the f16 whose bits are `h` (exact: every f16 is an f32). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0;
  if (man === 0) return sign >>> 0;
  // Subnormal: normalize the mantissa into an f32 normal.
  let e = 113;
  let m = man;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

/** The bf16 bits nearest to the f32 whose bits are `u` (a uint32). */
export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  // Adding 0x7fff plus the lowest kept bit rounds to nearest even; overflow carries into infinity.
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The f32 bits of the bf16 whose bits are `b`. */
export function bf16BitsToF32Bits(b: number): number {
  return (b << 16) >>> 0;
}

/** `x` rounded to f32 (as a Float32Array store would), then to the nearest f16; returns the f16 bits. */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16Bits(scratchU32[0]!);
}

/** The value of the f16 with bits `h`. */
export function f16ToF32(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h & 0xffff);
  return scratchF32[0]!;
}

/** `x` rounded to f32 (as a Float32Array store would), then to the nearest bf16; returns the bf16 bits. */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16Bits(scratchU32[0]!);
}

/** The value of the bf16 with bits `b`. */
export function bf16ToF32(b: number): number {
  scratchU32[0] = bf16BitsToF32Bits(b & 0xffff);
  return scratchF32[0]!;
}

function checkLengths(what: string, src: { length: number }, dst: { length: number }): void {
  if (src.length !== dst.length) {
    throw new Error(`${what}: source has ${src.length} elements, destination ${dst.length}`);
  }
}

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Converts every element of `src` to f16 bits, into `dst` (allocated when omitted). */
export function f32ArrayToF16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths("f32ArrayToF16", src, dst);
  const u = u32View(src);
  const n = u.length;
  for (let i = 0; i < n; i++) dst[i] = f32BitsToF16Bits(u[i]!);
  return dst;
}

let f16Table: Uint32Array | null = null;

/** f32 bits for all 65536 f16 bit patterns (256 KiB, built on first use): widening becomes one load. */
function f16ToF32Table(): Uint32Array {
  if (f16Table === null) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** Widens every f16 in `src` to f32, into `dst` (allocated when omitted). Exact. */
export function f16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths("f16ArrayToF32", src, dst);
  const table = f16ToF32Table();
  const out = u32View(dst);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
  return dst;
}

/** Converts every element of `src` to bf16 bits, into `dst` (allocated when omitted). */
export function f32ArrayToBf16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  checkLengths("f32ArrayToBf16", src, dst);
  const u = u32View(src);
  const n = u.length;
  for (let i = 0; i < n; i++) dst[i] = f32BitsToBf16Bits(u[i]!);
  return dst;
}

/** Widens every bf16 in `src` to f32, into `dst` (allocated when omitted). Exact. */
export function bf16ArrayToF32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  checkLengths("bf16ArrayToF32", src, dst);
  const out = u32View(dst);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = src[i]! << 16;
  return dst;
}

/** Inclusive value range of each integer dtype (as numbers; i64's bounds are exact powers of two). */
function intRange(dtype: "i64" | "i32" | "i16" | "i8" | "u8"): readonly [number, number] {
  switch (dtype) {
    case "i64":
      return [-(2 ** 63), 2 ** 63];
    case "i32":
      return [-(2 ** 31), 2 ** 31 - 1];
    case "i16":
      return [-(2 ** 15), 2 ** 15 - 1];
    case "i8":
      return [-128, 127];
    case "u8":
      return [0, 255];
    default:
      return assertNever(dtype);
  }
}

/** Element `i` of `data` (of `dtype`) as a number; i64 goes through Number (exact up to 2^53). */
function readNumber(dtype: DType, data: TypedArray, i: number): number {
  switch (dtype) {
    case "f16":
      return f16ToF32((data as Uint16Array)[i]!);
    case "bf16":
      return bf16ToF32((data as Uint16Array)[i]!);
    case "i64":
      return Number((data as BigInt64Array)[i]!);
    case "f64":
    case "f32":
    case "i32":
    case "i16":
    case "i8":
    case "u8":
    case "bool":
      return (data as Exclude<TypedArray, BigInt64Array>)[i]!;
    default:
      return assertNever(dtype);
  }
}

/**
 * Rounds `x` half to even for a cast to an integer dtype (integers pass
 * unchanged), refusing NaN, infinities and values outside the target's range
 * rather than wrapping them silently.
 */
function toInt(x: number, to: "i64" | "i32" | "i16" | "i8" | "u8", i: number, t: Tensor): number {
  const r = x - Math.floor(x) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  const [lo, hi] = intRange(to);
  // i64's upper bound 2^63 is exclusive; the others are inclusive.
  if (Number.isNaN(r) || r < lo || r > hi || (to === "i64" && r >= hi)) {
    throw new Error(
      `cast ${t.dtype} ${shapeString(t.shape)} to ${to}: element ${i} is ${x}, which ${to} cannot hold`,
    );
  }
  return r;
}

/**
 * A new tensor with `t`'s values in `dtype`; the data is always a fresh array.
 *
 * Float to float rounds to nearest even (f64 to f16/bf16 rounds to f32
 * first). Float to integer rounds half to even and throws, naming the
 * element, on NaN, infinity or a value the integer type cannot hold; integer
 * to integer throws the same way instead of wrapping. Anything to bool is
 * `x !== 0` (NaN counts as true); bool reads as 0 or 1. i64 is read through a
 * JS number, so magnitudes beyond 2^53 round.
 */
export function cast<D extends DType>(t: Tensor, dtype: D): Tensor<D> {
  const n = t.data.length;
  const shape = [...t.shape];
  if (t.dtype === dtype) return { dtype, shape, data: t.data.slice() as DataOf[D] };
  if (t.dtype === "f32" && dtype === "f16") {
    return { dtype, shape, data: f32ArrayToF16(t.data as Float32Array) as DataOf[D] };
  }
  if (t.dtype === "f32" && dtype === "bf16") {
    return { dtype, shape, data: f32ArrayToBf16(t.data as Float32Array) as DataOf[D] };
  }
  if (t.dtype === "f16" && dtype === "f32") {
    return { dtype, shape, data: f16ArrayToF32(t.data as Uint16Array) as DataOf[D] };
  }
  if (t.dtype === "bf16" && dtype === "f32") {
    return { dtype, shape, data: bf16ArrayToF32(t.data as Uint16Array) as DataOf[D] };
  }
  if ((t.dtype === "f16" || t.dtype === "bf16") && (dtype === "f16" || dtype === "bf16")) {
    const wide = t.dtype === "f16" ? f16ArrayToF32(t.data as Uint16Array) : bf16ArrayToF32(t.data as Uint16Array);
    const narrow = dtype === "f16" ? f32ArrayToF16(wide) : f32ArrayToBf16(wide);
    return { dtype, shape, data: narrow as DataOf[D] };
  }
  const out = allocData(dtype, n);
  for (let i = 0; i < n; i++) writeElement(dtype, out, i, readNumber(t.dtype, t.data, i), t);
  return { dtype, shape, data: out };
}

function writeElement(dtype: DType, out: TypedArray, i: number, x: number, t: Tensor): void {
  switch (dtype) {
    case "f64":
    case "f32":
      (out as Float32Array | Float64Array)[i] = x;
      return;
    case "f16":
      (out as Uint16Array)[i] = f32ToF16(x);
      return;
    case "bf16":
      (out as Uint16Array)[i] = f32ToBf16(x);
      return;
    case "i64":
      (out as BigInt64Array)[i] = BigInt(toInt(x, dtype, i, t));
      return;
    case "i32":
    case "i16":
    case "i8":
    case "u8":
      (out as Int32Array | Int16Array | Int8Array | Uint8Array)[i] = toInt(x, dtype, i, t);
      return;
    case "bool":
      (out as Uint8Array)[i] = x !== 0 ? 1 : 0;
      return;
    default:
      assertNever(dtype);
  }
}
