/**
 * A seeded random number generator: xoshiro128** (Blackman and Vigna), seeded
 * through splitmix32. Integer arithmetic only (Math.imul, shifts), so the same
 * seed gives the same numbers on every platform and Node version.
 */

/** A source of uniform random numbers. */
export interface Rng {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** A uniform float in [0, 1) with 53 random bits (two nextUint32 draws). */
  nextFloat(): number;
}

const TWO_POW_32 = 4294967296;

/**
 * The generator for `seed` and `stream`. Distinct (seed, stream) pairs give
 * distinct generator states, so streams are independent: the scheduler gives
 * each request the stream of its index, and a request draws the same numbers
 * whatever else runs beside it.
 *
 * @param seed a non-negative safe integer (PaddleNLP's `--seed`)
 * @param stream a non-negative integer below 2^32 (default 0)
 */
export function createRng(seed: number, stream = 0): Rng {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`seed must be a non-negative integer, got ${seed}`);
  }
  if (!Number.isInteger(stream) || stream < 0 || stream >= TWO_POW_32) {
    throw new Error(`rng stream must be an integer in [0, 2^32), got ${stream}`);
  }
  const low = seed % TWO_POW_32;
  const high = Math.floor(seed / TWO_POW_32);
  // Each word adds a bijection of one input to a function of `low`, so the
  // map from (seed, stream) to state is one-to-one.
  const next = splitmix32(low);
  const state: [number, number, number, number] = [
    next(),
    (next() ^ finalize(high)) >>> 0,
    (next() ^ finalize(stream ^ 0x6a09e667)) >>> 0,
    next(),
  ];
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[3] = 1;
  return xoshiro128ss(state);
}

/**
 * xoshiro128** over an explicit 128-bit state (four uint32 words, not all
 * zero). Exposed to this package's tests, which compare it with the
 * reference C implementation.
 */
export function xoshiro128ss(seedState: readonly [number, number, number, number]): Rng {
  let s0 = seedState[0] >>> 0;
  let s1 = seedState[1] >>> 0;
  let s2 = seedState[2] >>> 0;
  let s3 = seedState[3] >>> 0;
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  return {
    nextUint32,
    nextFloat: () => {
      const high = nextUint32() >>> 5; // 27 bits
      const low = nextUint32() >>> 6; // 26 bits
      return (high * 67108864 + low) / 9007199254740992;
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function finalize(x: number): number {
  let z = x | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function splitmix32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    return finalize(state);
  };
}
