import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeF16 } from "./f16.js";
import { f16ToF32 } from "../convert.js";

/** Every finite f16 with an exponent field of at most maxExponent, both signs. */
function finiteHalves(maxExponent: number): Uint16Array {
  const out: number[] = [];
  for (let h = 0; h < 0x8000; h++) if (h >> 10 <= maxExponent) out.push(h, h | 0x8000);
  return new Uint16Array(out);
}

test("normalizeF16 scales by 2^d exactly and leaves no subnormal when |w| < 64", () => {
  const bits = finiteHalves(20); // up to 2^6 * (2 - 2^-10)
  const before = bits.slice();
  const d = normalizeF16(bits);
  assert.equal(d, 10);
  for (let i = 0; i < bits.length; i++) {
    assert.equal(f16ToF32(bits[i]!), f16ToF32(before[i]!) * 2 ** d, `0x${before[i]!.toString(16)}`);
    assert.ok(bits[i]! & 0x7c00 || (bits[i]! & 0x3ff) === 0, `0x${before[i]!.toString(16)} is still subnormal`);
  }
});

test("normalizeF16 shifts less when large values leave less room, still exactly", () => {
  const bits = finiteHalves(27);
  const before = bits.slice();
  const d = normalizeF16(bits);
  assert.equal(d, 3);
  for (let i = 0; i < bits.length; i++) assert.equal(f16ToF32(bits[i]!), f16ToF32(before[i]!) * 8);
});

test("normalizeF16 leaves data alone without subnormals, at the top exponent, or with inf/NaN", () => {
  for (const data of [
    [0x3c00, 0x0000, 0x8000, 0x1234],
    [0x0001, 0x7bff],
    [0x0001, 0x7c00],
    [0x0001, 0x7e00],
  ]) {
    const bits = new Uint16Array(data);
    assert.equal(normalizeF16(bits), 0);
    assert.deepEqual(Array.from(bits), data);
  }
});
