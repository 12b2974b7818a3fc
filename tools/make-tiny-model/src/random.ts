/*
 * Deterministic normal samples: xoshiro128** (Blackman and Vigna) seeded by
 * splitmix32, turned into normals by Marsaglia's polar method. Everything is
 * 32-bit integer arithmetic plus Math.log and Math.sqrt, which V8 computes
 * the same way on every platform, so a seed gives byte-identical weights.
 */

/** A stream of standard normal samples (mean 0, variance 1). */
export interface NormalStream {
  /** Fills `out` with `mean + std * N(0, 1)` samples, continuing the stream. */
  fill(out: Float32Array, mean: number, std: number): void;
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One splitmix32 step: the next state and its mixed output. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/**
 * The stream for one tensor: its own state derived from the seed and the
 * tensor's name, so each tensor's values do not depend on which others exist
 * or the order they are made in.
 */
export function normalStream(seed: number, key: string): NormalStream {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  // Two independent 32-bit hashes of (seed, key), each expanded by splitmix32 into two state words.
  const a0 = splitmix32(fnv1a(`${seed}:${key}`));
  const a1 = splitmix32(a0[0]);
  const b0 = splitmix32(fnv1a(`${key}#${seed}`));
  const b1 = splitmix32(b0[0]);
  let s0 = a0[1];
  let s1 = a1[1];
  let s2 = b0[1];
  let s3 = b1[1];
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  /** A uniform in (-1, 1) from the top 24 bits of one xoshiro128** output. */
  const uniform = (): number => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return ((r >>> 8) + 0.5) / 8388608 - 1;
  };

  let spare = 0;
  let hasSpare = false;
  return {
    fill(arr: Float32Array, mean: number, std: number): void {
      const n = arr.length;
      let i = 0;
      if (hasSpare && n > 0) {
        arr[i++] = mean + std * spare;
        hasSpare = false;
      }
      while (i < n) {
        let u: number;
        let v: number;
        let s: number;
        do {
          u = uniform();
          v = uniform();
          s = u * u + v * v;
        } while (s >= 1 || s === 0);
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        arr[i++] = mean + std * u * f;
        if (i < n) arr[i++] = mean + std * v * f;
        else {
          spare = v * f;
          hasSpare = true;
        }
      }
    },
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
