import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bf16ArrayToF32,
  bf16BitsToF32Bits,
  bf16ToF32,
  cast,
  f16ArrayToF32,
  f16BitsToF32Bits,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
} from "./convert.js";
import { dtypeOfTorchName, torchDTypeName } from "./dtype.js";
import { tensor } from "./tensor.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const valueOf = (bits: number): number => {
  u32[0] = bits;
  return f32[0]!;
};
const hex = (x: number): string => `0x${x.toString(16)}`;

/** A deterministic stream of uint32s (xorshift32) for sampling bit patterns. */
function bitStream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

/**
 * Reference rounding to a 16-bit format, independent of the bit tricks: the
 * positive finite values of the format, in bit order, are increasing, so the
 * nearest one is found by binary search and ties go to the even pattern.
 * `toF32` widens a 16-bit pattern; `maxFinite` is the largest finite pattern,
 * `inf` the infinity pattern, `quietNaN(u)` the expected NaN for f32 bits u.
 */
function referenceRound(u: number, toF32: (h: number) => number, maxFinite: number, inf: number, quietNaN: (u: number) => number): number {
  const sign = u >>> 31 ? 0x8000 : 0;
  const x = Math.abs(valueOf(u));
  if (Number.isNaN(x)) return quietNaN(u);
  if (x === Infinity) return sign | inf;
  let lo = 0;
  let hi = maxFinite;
  if (x >= toF32(maxFinite)) {
    // Above the largest finite value: IEEE rounds to infinity at and beyond the halfway point to the next power.
    const next = toF32(maxFinite) + (toF32(maxFinite) - toF32(maxFinite - 1));
    const mid = (toF32(maxFinite) + next) / 2;
    return sign | (x >= mid ? inf : maxFinite);
  }
  while (hi - lo > 1) {
    const m = (lo + hi) >>> 1;
    if (toF32(m) <= x) lo = m;
    else hi = m;
  }
  const dLo = x - toF32(lo);
  const dHi = toF32(hi) - x;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | ((lo & 1) === 0 ? lo : hi);
}

const refF16 = (u: number): number =>
  referenceRound(u, (h) => valueOf(f16BitsToF32Bits(h)), 0x7bff, 0x7c00, (v) => ((v >>> 16) & 0x8000) | 0x7e00 | ((v >>> 13) & 0x3ff));
const refBf16 = (u: number): number =>
  referenceRound(u, (h) => valueOf(h << 16), 0x7f7f, 0x7f80, (v) => (v >>> 16) | 0x40);

describe("f16", () => {
  it("widens every f16 pattern exactly and narrows it back to itself (NaNs come back quiet)", () => {
    for (let h = 0; h < 65536; h++) {
      const back = f32BitsToF16Bits(f16BitsToF32Bits(h));
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      assert.equal(back, isNaN ? h | 0x200 : h, `f16 ${hex(h)}`);
    }
  });

  it("widens known patterns to their values", () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x3555, 0.333251953125],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [h, v] of cases) assert.equal(f16ToF32(h), v, hex(h));
    assert.ok(Object.is(f16ToF32(0x8000), -0));
    assert.ok(Number.isNaN(f16ToF32(0x7e00)));
    assert.ok(Number.isNaN(f16ToF32(0x7c01)));
  });

  it("rounds ties to even, at every kind of boundary", () => {
    const cases: [number, number, string][] = [
      [0x3f801000, 0x3c00, "1 + 2^-11: halfway between 1 and 1+2^-10, to even 1"],
      [0x3f801001, 0x3c01, "just above that tie"],
      [0x3f800fff, 0x3c00, "just below that tie"],
      [0x3f803000, 0x3c02, "1 + 3*2^-11: halfway, to even 1+2^-9"],
      [0x3f807000, 0x3c04, "mantissa carry 1+7*2^-11 -> 1+2^-8"],
      [0x3fffF000, 0x4000, "2 - 2^-11: tie, rounds up into the next exponent"],
      [0x477fe000, 0x7bff, "65504, the largest f16"],
      [0x477fefff, 0x7bff, "just below 65520"],
      [0x477ff000, 0x7c00, "65520: tie between 65504 (odd) and 65536, to infinity"],
      [0x7f7fffff, 0x7c00, "largest f32 overflows to infinity"],
      [0x33000000, 0x0000, "2^-25: halfway between 0 and 2^-24, to even 0"],
      [0x33000001, 0x0001, "just above 2^-25"],
      [0x32ffffff, 0x0000, "just below 2^-25"],
      [0x33c00000, 0x0002, "3*2^-25: halfway between 1 and 2 units, to even 2"],
      [0x34200000, 0x0002, "5*2^-25: halfway between 2 and 3 units, to even 2"],
      [0x387fe000, 0x0400, "1023.5*2^-24: halfway between the largest subnormal and the smallest normal, to even"],
      [0x387fa000, 0x03fe, "1022.5*2^-24: tie to even 1022"],
      [0x387fc000, 0x03ff, "1023*2^-24, the largest subnormal, exactly"],
      [0x38800000, 0x0400, "2^-14, the smallest normal"],
      [0x00000001, 0x0000, "smallest f32 subnormal"],
      [0x80000001, 0x8000, "negative tiny rounds to -0"],
      [0xbf801000, 0xbc00, "negative tie"],
      [0x00000000, 0x0000, "+0"],
      [0x80000000, 0x8000, "-0"],
      [0x7f800000, 0x7c00, "+inf"],
      [0xff800000, 0xfc00, "-inf"],
      [0x7fc00000, 0x7e00, "quiet NaN"],
      [0xffc00000, 0xfe00, "negative NaN keeps its sign"],
      [0x7f800001, 0x7e00, "signaling NaN becomes quiet, low payload lost"],
      [0x7fa02000, 0x7f01, "NaN payload's top bits kept"],
    ];
    for (const [u, want, why] of cases) {
      assert.equal(hex(f32BitsToF16Bits(u)), hex(want), why);
      assert.equal(hex(refF16(u)), hex(want), `reference: ${why}`);
    }
  });

  it("matches the reference on every exponent, around every rounding boundary and on random patterns", () => {
    const next = bitStream(1);
    for (let e = 0; e < 256; e++) {
      for (const low of [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x7fffff, 0x400000, 0x7ff000]) {
        for (const sign of [0, 0x80000000]) {
          const u = (sign | (e << 23) | low) >>> 0;
          assert.equal(f32BitsToF16Bits(u), refF16(u), hex(u));
        }
      }
    }
    for (let i = 0; i < 200_000; i++) {
      const u = next();
      assert.equal(f32BitsToF16Bits(u), refF16(u), hex(u));
    }
    // Dense in the range where f16 subnormals and normals meet.
    for (let u = 0x33000000 - 64; u < 0x39000000; u += 997) assert.equal(f32BitsToF16Bits(u), refF16(u), hex(u));
  });

  it("scalar helpers agree with the bit functions", () => {
    assert.equal(f32ToF16(1), 0x3c00);
    assert.equal(f32ToF16(-0), 0x8000);
    assert.equal(f32ToF16(1e6), 0x7c00);
    assert.equal(f16ToF32(f32ToF16(0.1)), 0.0999755859375);
  });

  it("array conversions match the scalar ones", () => {
    const next = bitStream(2);
    const src = new Float32Array(10_000);
    const srcBits = new Uint32Array(src.buffer);
    for (let i = 0; i < src.length; i++) srcBits[i] = next();
    const h = f32ArrayToF16(src);
    for (let i = 0; i < src.length; i++) assert.equal(h[i], f32BitsToF16Bits(srcBits[i]!));
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide = new Uint32Array(f16ArrayToF32(all).buffer);
    for (let i = 0; i < 65536; i++) assert.equal(wide[i], f16BitsToF32Bits(i));
  });

  it("converts into a given destination, on a view with an offset", () => {
    const buf = new ArrayBuffer(64);
    const src = new Float32Array(buf, 16, 3);
    src.set([1, -2, 0.5]);
    const dst = new Uint16Array(new ArrayBuffer(32), 2, 3);
    assert.equal(f32ArrayToF16(src, dst), dst);
    assert.deepEqual([...dst], [0x3c00, 0xc000, 0x3800]);
    assert.throws(() => f32ArrayToF16(src, new Uint16Array(2)), /source has 3 elements, destination 2/);
  });
});

describe("bf16", () => {
  it("widens every bf16 pattern exactly and narrows it back to itself (NaNs come back quiet)", () => {
    for (let b = 0; b < 65536; b++) {
      const back = f32BitsToBf16Bits(bf16BitsToF32Bits(b));
      const isNaN = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      assert.equal(back, isNaN ? b | 0x40 : b, `bf16 ${hex(b)}`);
    }
  });

  it("rounds ties to even, at every kind of boundary", () => {
    const cases: [number, number, string][] = [
      [0x3f808000, 0x3f80, "1 + 2^-8: halfway, to even 1"],
      [0x3f808001, 0x3f81, "just above that tie"],
      [0x3f807fff, 0x3f80, "just below that tie"],
      [0x3f818000, 0x3f82, "halfway between odd 0x3f81 and 0x3f82, to even"],
      [0x3fff8000, 0x4000, "tie carries into the exponent"],
      [0x7f7f7fff, 0x7f7f, "just below the largest bf16's halfway point"],
      [0x7f7f8000, 0x7f80, "tie above the largest bf16 (odd): infinity"],
      [0x7f7fffff, 0x7f80, "largest f32 overflows to infinity"],
      [0x00008000, 0x0000, "subnormal tie to even 0"],
      [0x00018000, 0x0002, "subnormal tie to even 2"],
      [0x00008001, 0x0001, "subnormal just above a tie"],
      [0x007f8000, 0x0080, "largest subnormals round up into the smallest normal"],
      [0x80000000, 0x8000, "-0"],
      [0x7f800000, 0x7f80, "+inf"],
      [0xff800000, 0xff80, "-inf"],
      [0x7fc00000, 0x7fc0, "quiet NaN"],
      [0x7f800001, 0x7fc0, "signaling NaN with only low payload stays NaN"],
      [0xff800001, 0xffc0, "negative NaN keeps its sign"],
      [0x7f810000, 0x7fc1, "NaN payload's top bits kept"],
    ];
    for (const [u, want, why] of cases) {
      assert.equal(hex(f32BitsToBf16Bits(u)), hex(want), why);
      assert.equal(hex(refBf16(u)), hex(want), `reference: ${why}`);
    }
  });

  it("matches the reference on every exponent, at the rounding boundaries, and on random patterns", () => {
    const next = bitStream(3);
    for (let e = 0; e < 256; e++) {
      for (const low of [0, 1, 0x7fff, 0x8000, 0x8001, 0x17fff, 0x18000, 0x18001, 0x7fffff]) {
        for (const sign of [0, 0x80000000]) {
          const u = (sign | (e << 23) | low) >>> 0;
          assert.equal(f32BitsToBf16Bits(u), refBf16(u), hex(u));
        }
      }
    }
    for (let i = 0; i < 200_000; i++) {
      const u = next();
      assert.equal(f32BitsToBf16Bits(u), refBf16(u), hex(u));
    }
  });

  it("scalar and array helpers agree", () => {
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(bf16ToF32(0x3f80), 1);
    assert.equal(bf16ToF32(0xc0a0), -5);
    assert.ok(Object.is(bf16ToF32(0x8000), -0));
    const next = bitStream(4);
    const src = new Float32Array(10_000);
    const srcBits = new Uint32Array(src.buffer);
    for (let i = 0; i < src.length; i++) srcBits[i] = next();
    const b = f32ArrayToBf16(src);
    for (let i = 0; i < src.length; i++) assert.equal(b[i], f32BitsToBf16Bits(srcBits[i]!));
    const wide = new Uint32Array(bf16ArrayToF32(b).buffer);
    for (let i = 0; i < b.length; i++) assert.equal(wide[i], bf16BitsToF32Bits(b[i]!));
  });
});

describe("cast", () => {
  it("narrows and widens floats", () => {
    const t = tensor("f32", [2, 2], new Float32Array([1, -2, 0.1, 65520]));
    const h = cast(t, "f16");
    assert.equal(h.dtype, "f16");
    assert.deepEqual(h.shape, [2, 2]);
    assert.deepEqual([...h.data], [0x3c00, 0xc000, 0x2e66, 0x7c00]);
    const b = cast(t, "bf16");
    assert.deepEqual([...b.data], [0x3f80, 0xc000, 0x3dcd, 0x4780]);
    assert.deepEqual([...cast(h, "f32").data], [1, -2, 0.0999755859375, Infinity]);
    assert.deepEqual([...cast(b, "f32").data], [1, -2, 0.10009765625, 65536]);
    assert.deepEqual([...cast(h, "bf16").data], [0x3f80, 0xc000, 0x3dcd, 0x7f80]);
    assert.deepEqual([...cast(b, "f16").data], [0x3c00, 0xc000, 0x2e68, 0x7c00]);
    assert.deepEqual([...cast(t, "f64").data], [1, -2, Math.fround(0.1), 65520]);
  });

  it("copies when the dtype is unchanged", () => {
    const t = tensor("i32", [3], new Int32Array([1, 2, 3]));
    const c = cast(t, "i32");
    assert.notEqual(c.data, t.data);
    assert.deepEqual([...c.data], [1, 2, 3]);
  });

  it("rounds floats to integers half to even", () => {
    const t = tensor("f32", [8], new Float32Array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6]));
    assert.deepEqual([...cast(t, "i32").data], [0, 2, 2, 0, -2, -2, 2, -3]);
    assert.deepEqual([...cast(t, "i8").data], [0, 2, 2, 0, -2, -2, 2, -3]);
    assert.deepEqual([...cast(t, "i64").data], [0n, 2n, 2n, 0n, -2n, -2n, 2n, -3n]);
    assert.deepEqual([...cast(tensor("f16", [2], new Uint16Array([0x4100, 0x3c00])), "u8").data], [2, 1]);
  });

  it("refuses values the integer type cannot hold, naming the element", () => {
    const f = tensor("f32", [3], new Float32Array([1, 300, 2]));
    assert.throws(() => cast(f, "i8"), /cast f32 \[3\] to i8: element 1 is 300, which i8 cannot hold/);
    assert.throws(() => cast(f, "u8"), /element 1 is 300/);
    assert.throws(() => cast(tensor("f32", [1], new Float32Array([NaN])), "i32"), /element 0 is NaN/);
    assert.throws(() => cast(tensor("f32", [1], new Float32Array([-Infinity])), "i64"), /element 0 is -Infinity/);
    assert.throws(() => cast(tensor("f32", [1], new Float32Array([2 ** 63])), "i64"), /which i64 cannot hold/);
    assert.throws(() => cast(tensor("i32", [2], new Int32Array([0, -1])), "u8"), /element 1 is -1, which u8 cannot hold/);
    assert.throws(() => cast(tensor("i64", [1], new BigInt64Array([1n << 40n])), "i32"), /which i32 cannot hold/);
    assert.throws(() => cast(tensor("f32", [1], new Float32Array([255.5])), "u8"), /element 0 is 255.5/);
  });

  it("converts between integers and to floats", () => {
    const i = tensor("i64", [3], new BigInt64Array([-5n, 0n, 7n]));
    assert.deepEqual([...cast(i, "i8").data], [-5, 0, 7]);
    assert.deepEqual([...cast(i, "f32").data], [-5, 0, 7]);
    assert.deepEqual([...cast(i, "bf16").data], [0xc0a0, 0, 0x40e0]);
    assert.deepEqual([...cast(tensor("u8", [2], new Uint8Array([255, 0])), "i64").data], [255n, 0n]);
    assert.deepEqual([...cast(tensor("i32", [1], new Int32Array([70000])), "f16").data], [0x7c00]);
  });

  it("casts to and from bool", () => {
    const f = tensor("f32", [4], new Float32Array([0, -0, 2, NaN]));
    assert.deepEqual([...cast(f, "bool").data], [0, 0, 1, 1]);
    assert.deepEqual([...cast(tensor("bool", [2], new Uint8Array([1, 0])), "f16").data], [0x3c00, 0]);
  });
});

describe("torch dtype names", () => {
  it("map both ways for the three float types, and nothing else", () => {
    for (const [name, dtype] of [["float32", "f32"], ["float16", "f16"], ["bfloat16", "bf16"]] as const) {
      assert.equal(dtypeOfTorchName(name), dtype);
      assert.equal(torchDTypeName(dtype), name);
    }
    assert.equal(dtypeOfTorchName("int8"), null);
    assert.equal(dtypeOfTorchName("bf16"), null);
  });
});
