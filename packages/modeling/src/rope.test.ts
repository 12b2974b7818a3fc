import test from "node:test";
import assert from "node:assert/strict";
import { ropeInvFreq } from "./rope.js";

test("plain rotary frequencies are theta^(-2i/d)", () => {
  const inv = ropeInvFreq({ headDim: 64, ropeTheta: 1e6, ropeScaling: null });
  assert.equal(inv.length, 32);
  assert.equal(inv[0], 1);
  assert.ok(Math.abs(inv[16]! / 1e-3 - 1) < 1e-6, String(inv[16])); // 1e6^(-32/64)
});

test("Llama 3.1 rope scaling matches transformers' _compute_llama3_parameters", () => {
  // Llama-3.1-8B: head_dim 128, rope_theta 500000, factor 8, low 1, high 4, original 8192.
  // Reference values from transformers' formula evaluated in float32 with numpy:
  // indices 0-28 keep their frequency, 29-34 are smoothed, 35-63 are divided by 8.
  const inv = ropeInvFreq({
    headDim: 128,
    ropeTheta: 500000,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
  });
  const expected: [number, number][] = [
    [0, 1.0],
    [20, 0.016560440883040428],
    [30, 0.0013718936825171113],
    [31, 0.0008567514596506953],
    [32, 0.0005248460220173001],
    [33, 0.0003126936499029398],
    [34, 0.0001785077911335975],
    [35, 9.556212899042293e-5],
    [40, 3.428102354519069e-5],
    [63, 3.068925877869333e-7],
  ];
  for (const [i, want] of expected) assert.ok(Math.abs(inv[i]! / want - 1) < 1e-5, `inv_freq[${i}] = ${inv[i]}, transformers ${want}`);
});

test("linear rope scaling divides every frequency by the factor, as transformers' _compute_linear_scaling_rope_parameters", () => {
  const plain = ropeInvFreq({ headDim: 64, ropeTheta: 10000, ropeScaling: null });
  const linear = ropeInvFreq({ headDim: 64, ropeTheta: 10000, ropeScaling: { type: "linear", factor: 4 } });
  assert.ok(Math.abs(linear[16]! / 0.0025 - 1) < 1e-6, String(linear[16])); // 1e4^(-32/64) / 4
  for (let i = 0; i < 32; i++) assert.equal(linear[i], Math.fround(plain[i]! / 4));
});
