import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { f16ToF32 } from "../convert.js";
import { type WeightFormat, elementBytes } from "./format.js";
import { type ComputePool, type DeviceWeight, createComputePool, startPool } from "./pool.js";
import { type HostWeight, matmulReference, quantizeRowQ8 } from "./reference.js";
import { randomFloats, randomWeight, rng, widenAll } from "./testing.js";

/** Copies a host weight into the pool. */
function place(pool: ComputePool, host: HostWeight): DeviceWeight {
  const spec = { format: host.format, rows: host.rows, cols: host.cols, blockSize: host.blockSize };
  return pool.allocWeight(spec, ({ data, scales }) => {
    data.set(host.data);
    if (scales) scales.set(host.scales!);
  });
}

/**
 * Checks out[m, N] against the double-precision reference, element by
 * element, within what f32 summation (and for q8 the int16 rounding of x) can
 * explain: (K/4 + 4) ulps of sum |x||w|, plus half a step of x times sum |w|.
 */
function assertMatches(
  label: string,
  out: Float32Array, // [m, N]
  x: Float32Array, // [m, K]
  m: number,
  host: HostWeight, // [N, K]
  bias?: Float32Array, // [N]
): number {
  const { rows: n, cols: k } = host;
  const wide = widenAll(host);
  const ref = new Float32Array(m * n);
  matmulReference(x, m, host, ref, bias);
  let worst = 0;
  for (let i = 0; i < m; i++) {
    let xmax = 0;
    for (let e = 0; e < k; e++) xmax = Math.max(xmax, Math.abs(x[i * k + e]!));
    const xStep = host.format === "q8" ? xmax / 32767 : 0;
    for (let j = 0; j < n; j++) {
      let absDot = 0;
      let absW = 0;
      for (let e = 0; e < k; e++) {
        absDot += Math.abs(x[i * k + e]! * wide[j * k + e]!);
        absW += Math.abs(wide[j * k + e]!);
      }
      const tolerance = (k / 4 + 4) * 2 ** -23 * (absDot + Math.abs(bias?.[j] ?? 0)) + 0.501 * xStep * absW * 1.001;
      const error = Math.abs(out[i * n + j]! - ref[i * n + j]!);
      if (!(error <= tolerance)) {
        assert.fail(`${label}: out[${i}, ${j}] = ${out[i * n + j]}, reference ${ref[i * n + j]}, tolerance ${tolerance}`);
      }
      if (absDot > 0) worst = Math.max(worst, error / absDot);
    }
  }
  return worst;
}

const SHAPES: Record<WeightFormat, [n: number, k: number, blockSize: number][]> = {
  f32: [[1, 1, 0], [5, 3, 0], [37, 17, 0], [9, 64, 0], [70, 45, 0]],
  bf16: [[1, 1, 0], [5, 7, 0], [37, 9, 0], [9, 23, 0], [70, 64, 0]],
  f16: [[1, 1, 0], [5, 7, 0], [37, 9, 0], [9, 23, 0], [70, 64, 0]],
  q8: [[1, 8, 8], [5, 16, 8], [37, 64, 32], [9, 96, 96], [70, 40, 8]],
};
const FORMATS: WeightFormat[] = ["f32", "bf16", "f16", "q8"];

describe("compute pool", () => {
  let one: ComputePool;
  let two: ComputePool;
  let plain: ComputePool; // multiply and add apart, as engines without relaxed SIMD run them
  before(async () => {
    one = await createComputePool({ threads: 1 });
    two = await createComputePool({ threads: 2 });
    plain = await createComputePool({ threads: 2, kernels: "simd" });
  });
  after(async () => {
    await one.dispose();
    await two.dispose();
    await plain.dispose();
  });

  test("Node 20 and later run the fused multiply-add kernels unless told not to", () => {
    assert.deepEqual([one.kernels, two.kernels, plain.kernels], ["relaxed-simd", "relaxed-simd", "simd"]);
  });

  test("every format matches the reference: odd N and K, M in {1, 3, 64}, bias or not, 1 and 2 threads", () => {
    const random = rng(1);
    for (const pool of [one, two, plain]) {
      for (const format of FORMATS) {
        for (const [n, k, blockSize] of SHAPES[format]) {
          const host = randomWeight(random, format, n, k, blockSize);
          const w = place(pool, host);
          for (const m of [1, 3, 64]) {
            for (const withBias of [false, true]) {
              const x = randomFloats(random, m * k);
              const bias = withBias ? randomFloats(random, n) : undefined;
              const out = new Float32Array(m * n);
              pool.matmul(x, m, w, out, bias);
              assertMatches(`${format} [${n}, ${k}] m=${m} bias=${withBias} threads=${pool.threads} ${pool.kernels}`, out, x, m, host, bias);
            }
          }
        }
      }
    }
  });

  test("a row's result does not depend on M, on blocking or on the thread count (bit for bit)", () => {
    const random = rng(2);
    const [n, k, m] = [203, 136, 11];
    for (const format of FORMATS) {
      const host = randomWeight(random, format, n, k, format === "q8" ? 8 : 0);
      const x = randomFloats(random, m * k);
      const bias = randomFloats(random, n);
      const batchOne = new Float32Array(m * n);
      one.matmul(x, m, place(one, host), batchOne, bias);
      for (const pool of [two, plain]) {
        const w = place(pool, host);
        const batch = new Float32Array(m * n);
        pool.matmul(x, m, w, batch, bias);
        if (pool.kernels === one.kernels) assert.deepEqual(batchOne, batch, `${format}: 1 thread vs 2 threads`);
        for (let i = 0; i < m; i++) {
          const single = new Float32Array(n);
          pool.matmul(x.subarray(i * k, (i + 1) * k), 1, w, single, bias);
          assert.deepEqual(single, batch.subarray(i * n, (i + 1) * n), `${format} ${pool.kernels}: row ${i} alone vs in a batch of ${m}`);
        }
      }
    }
  });

  test("with more threads than cores (workers joining late or not at all), 600 calls give one thread's bits", async () => {
    const random = rng(7);
    const crowded = await createComputePool({ threads: 4, spinMicros: 0 });
    try {
      const cases = FORMATS.map((format, i) => {
        const host = randomWeight(random, format, 61 + 50 * i, 48 + 8 * i, format === "q8" ? 8 : 0);
        return { host, alone: place(one, host), crowded: place(crowded, host) };
      });
      for (let call = 0; call < 600; call++) {
        const { host, alone, crowded: w } = cases[call % cases.length]!;
        const m = 1 + (call % 5);
        const x = randomFloats(random, m * host.cols);
        const expected = new Float32Array(m * host.rows);
        const got = new Float32Array(m * host.rows);
        one.matmul(x, m, alone, expected);
        crowded.matmul(x, m, w, got);
        assert.deepEqual(got, expected, `call ${call}: ${host.format} m=${m}`);
      }
    } finally {
      await crowded.dispose();
    }
  });

  test("f16 zero, subnormals and negatives widen exactly, in gemv, gemm and readRow", () => {
    const special = [
      0x0000, 0x8000, 0x0001, 0x8001, 0x0200, 0x83ff, 0x03ff, 0x0400, 0x8400, 0x3c00, 0xbc00, 0x3555, 0x57ff, 0xd7ff,
      0x0155, 0x8155, 0x1234, 0x9234, 0x2e66, 0xc000,
    ];
    const k = special.length; // 20: two groups of 8 and a tail of 4
    const n = 3;
    // as they are, and with the largest values at 65504 (which leaves no room to rescale: see f16.ts)
    for (const [large, bigger] of [[0x57ff, 0xd7ff], [0x7bff, 0xfbff]]) {
      special[12] = large!;
      special[13] = bigger!;
      const bits = new Uint16Array(n * k);
      for (let r = 0; r < n; r++) for (let e = 0; e < k; e++) bits[r * k + e] = special[(e + 7 * r) % k]!;
      assertF16Exact(bits, n, k);
    }
  });

  /** Each f16 of bits [n, k] must come out of readRow, gemv and gemm as exactly its value. */
  function assertF16Exact(bits: Uint16Array, n: number, k: number): void {
    const host: HostWeight = { format: "f16", rows: n, cols: k, data: new Uint8Array(bits.buffer) };
    for (const pool of [one, two]) {
      const w = place(pool, host);
      const identity = new Float32Array(k * k);
      for (let e = 0; e < k; e++) identity[e * k + e] = 1;
      const gemm = new Float32Array(k * n);
      pool.matmul(identity, k, w, gemm);
      const row = new Float32Array(k);
      for (let r = 0; r < n; r++) {
        pool.readRow(w, r, row);
        for (let e = 0; e < k; e++) {
          const expected = f16ToF32(bits[r * k + e]!);
          assert.ok(Object.is(row[e], expected), `readRow ${bits[r * k + e]!.toString(16)}: ${row[e]} vs ${expected}`);
          const viaGemm = gemm[e * n + r]!;
          // a dot product with one 1 and zeros elsewhere gives +0 for -0: compare values, not zero signs
          assert.ok(viaGemm === expected, `gemm ${bits[r * k + e]!.toString(16)}: ${viaGemm} vs ${expected}`);
        }
      }
      for (let e = 0; e < k; e++) {
        const gemv = new Float32Array(n);
        pool.matmul(identity.subarray(e * k, (e + 1) * k), 1, w, gemv);
        for (let r = 0; r < n; r++) {
          assert.ok(gemv[r] === f16ToF32(bits[r * k + e]!), `gemv ${bits[r * k + e]!.toString(16)}: ${gemv[r]}`);
        }
      }
    }
  }

  test("readRow widens or dequantizes every format", () => {
    const random = rng(3);
    for (const format of FORMATS) {
      const host = randomWeight(random, format, 7, 48, format === "q8" ? 16 : 0);
      const w = place(two, host);
      const wide = widenAll(host);
      const row = new Float32Array(48);
      for (let r = 0; r < 7; r++) {
        two.readRow(w, r, row);
        assert.deepEqual(row, wide.subarray(r * 48, (r + 1) * 48), `${format} row ${r}`);
      }
      if (format === "bf16") {
        const bits = new Uint16Array(host.data.buffer);
        assert.equal(row[5], new Float32Array(new Uint32Array([bits[6 * 48 + 5]! << 16]).buffer)[0]);
      }
      assert.throws(() => two.readRow(w, 7, row), /row must be in \[0, 7\)/);
    }
  });

  test("q8 sums beyond the i32 range are turned into f32 in time (per-channel, K = 2560)", () => {
    const [n, k] = [4, 2560];
    const q = new Int8Array(n * k).fill(127);
    const host: HostWeight = {
      format: "q8",
      rows: n,
      cols: k,
      blockSize: k,
      data: new Uint8Array(q.buffer),
      scales: new Float32Array(n).fill(1 / 127),
    };
    const w = place(two, host);
    assert.equal(w.blockSize, k);
    const x = new Float32Array(k).fill(3);
    const out = new Float32Array(n);
    two.matmul(x, 1, w, out);
    for (const v of out) assert.ok(Math.abs(v - 3 * k) < 1e-3 * 3 * k, `got ${v}, expected ${3 * k}`);
    const x64 = new Float32Array(64 * k).fill(-3);
    const out64 = new Float32Array(64 * n);
    two.matmul(x64, 64, w, out64);
    for (const v of out64) assert.ok(Math.abs(v + 3 * k) < 1e-3 * 3 * k, `got ${v}, expected ${-3 * k}`);
  });

  test("quantizeWeight stores the bits quantizeRowQ8 computes, within half a step of the f32 rows", () => {
    const random = rng(4);
    const [n, k, blockSize] = [13, 96, 32];
    const f = randomFloats(random, n * k, 0.1);
    f.fill(0, 0, blockSize); // an all-zero block
    f.set([1.27, 0.025, -0.035, 0.005], 2 * blockSize); // 127/1.27 = 100 in f64: halves of 100 * x land near ties
    const w = two.quantizeWeight(n, k, blockSize, (r, out) => out.set(f.subarray(r * k, (r + 1) * k)));
    assert.deepEqual([w.format, w.rows, w.cols, w.blockSize, w.bytes], ["q8", n, k, blockSize, align16(n * k) + n * 3 * 4]);
    const row = new Float32Array(k);
    const q = new Int8Array(k);
    const scales = new Float32Array(k / blockSize);
    for (let r = 0; r < n; r++) {
      two.readRow(w, r, row);
      quantizeRowQ8(f.subarray(r * k, (r + 1) * k), blockSize, q, scales);
      for (let e = 0; e < k; e++) {
        const step = scales[Math.floor(e / blockSize)]!;
        assert.equal(row[e], Math.fround(q[e]! * step), `row ${r} col ${e}`);
        assert.ok(Math.abs(row[e]! - f[r * k + e]!) <= step / 2 + 1e-7, `row ${r} col ${e}`);
      }
    }
  });

  test("M beyond the scratch is split into several calls", async () => {
    const random = rng(5);
    const pool = await createComputePool({ threads: 2, scratchBytes: 16384 });
    try {
      for (const format of FORMATS) {
        const host = randomWeight(random, format, 100, 128, format === "q8" ? 32 : 0);
        const w = place(pool, host);
        const x = randomFloats(random, 64 * 128);
        const bias = randomFloats(random, 100);
        const out = new Float32Array(64 * 100);
        pool.matmul(x, 64, w, out, bias);
        assertMatches(`${format} in calls of at most 16 KiB of scratch`, out, x, 64, host, bias);
      }
    } finally {
      await pool.dispose();
    }
  });

  test("weights spread over several memories, each a worker has attached", async () => {
    const random = rng(6);
    // 4 pages per memory, 1 of them scratch: each memory holds one of these 115 KB weights, not two
    const pool = await createComputePool({ threads: 2, memoryBytes: 4 * 65536, scratchBytes: 65536 - 64 });
    try {
      const placed: [HostWeight, DeviceWeight][] = [];
      for (const format of FORMATS) {
        const rows = 1200 / elementBytes(format);
        const host = randomWeight(random, format, rows, 96, format === "q8" ? 32 : 0);
        placed.push([host, place(pool, host)]);
      }
      for (const [host, w] of placed) {
        const x = randomFloats(random, 5 * host.cols);
        const out = new Float32Array(5 * host.rows);
        pool.matmul(x, 5, w, out);
        assertMatches(`${host.format} in memory ${w.memory}`, out, x, 5, host);
      }
      assert.equal(pool.memories, 4);
      assert.deepEqual(
        placed.map(([, w]) => w.memory),
        [0, 1, 2, 3],
        "one weight per memory",
      );
      assert.throws(
        () => pool.allocWeight({ format: "f32", rows: 1000, cols: 1000 }, () => {}),
        /one memory holds at most/,
      );
    } finally {
      await pool.dispose();
    }
  });

  test("buffers: freed ranges are reused and merged, the top comes down, a memory can be chosen", async () => {
    const pool = await createComputePool({ threads: 2, memoryBytes: 8 * 65536, scratchBytes: 65536 - 64 });
    try {
      const w = pool.allocWeight({ format: "f32", rows: 16, cols: 16 }, ({ data }) => data.fill(0));
      const a = pool.allocBuffer(1000); // 1024 bytes taken (64-byte aligned)
      const b = pool.allocBuffer(4096);
      const c = pool.allocBuffer(64);
      const at = (x: { f32: Float32Array }): number => x.f32.byteOffset;
      assert.deepEqual([a.memory, at(b) - at(a), at(c) - at(b)], [0, 1024, 4096]);
      assert.equal(a.f32.length, 250);
      a.f32.fill(7);
      pool.freeBuffer(a);
      pool.freeBuffer(b);
      const d = pool.allocBuffer(5120);
      assert.equal(at(d), at(a), "a and b merged into one range");
      assert.equal(d.f32[0], 7, "a reused range keeps what was there");
      pool.freeBuffer(c);
      pool.freeBuffer(d);
      assert.equal(at(pool.allocBuffer(8192)), at(a), "freeing the buffers at the top brings it down");
      // 448 KB per memory: a second buffer of 300 KB needs a new memory
      assert.equal(pool.allocBuffer(300_000).memory, 0);
      assert.equal(pool.allocBuffer(300_000).memory, 1);
      assert.equal(pool.allocBuffer(64, { memory: 1 }).memory, 1);
      assert.equal(pool.allocBuffer(64).memory, 0, "the first memory with room");
      const x = randomFloats(rng(9), 16);
      const out = new Float32Array(16);
      pool.matmul(x, 1, w, out);
      assert.deepEqual(out, new Float32Array(16), "the weight below the buffers is untouched");
      assert.throws(() => pool.freeBuffer(d), /not a live buffer of this compute pool \(freed already\?\)/);
      assert.throws(() => pool.allocBuffer(6), /bytes must be a positive multiple of 4, got 6/);
      assert.throws(() => pool.allocBuffer(64, { memory: 2 }), /memory 2 does not exist \(the pool has 2\)/);
      assert.throws(() => pool.allocBuffer(300_000, { memory: 1 }), /do not fit in what is left of memory 1/);
      assert.throws(() => pool.allocBuffer(600_000), /600000 bytes do not fit one memory, which holds at most 458752/);
    } finally {
      await pool.dispose();
    }
  });

  test("silu matches x / (1 + exp(-x)) within 4 ulps, at any length and at the extremes", () => {
    const random = rng(10);
    for (const n of [1, 3, 4, 7, 4864]) {
      const x = randomFloats(random, n, 12);
      if (n > 10) x.set([0, -0, 1e-30, -1e-30, 87, -87, 100, -100, 1e4, -1e4]);
      const out = new Float32Array(n);
      two.silu(x, out);
      for (let i = 0; i < n; i++) {
        const want = x[i]! / (1 + Math.exp(-x[i]!));
        // below -87, exp(-x) is clamped to exp(88): silu is then x / 1.6e38 instead of closer still to 0
        const tolerance = x[i]! < -87 ? Math.abs(x[i]!) * 1e-38 : 4 * 2 ** -23 * Math.abs(want);
        assert.ok(Math.abs(out[i]! - want) <= tolerance, `silu(${x[i]}) = ${out[i]}, expected ${want}`);
      }
    }
    assert.throws(() => two.silu(new Float32Array(4), new Float32Array(3)), /out must have x's 4 floats, got 3/);
  });

  test("errors name what was expected and what was found", async () => {
    const w = two.allocWeight({ format: "f32", rows: 4, cols: 8 }, ({ data }) => data.fill(0));
    assert.throws(() => two.matmul(new Float32Array(7), 1, w, new Float32Array(4)), /x must be \[1, 8\] \(8 floats\), got 7/);
    assert.throws(() => two.matmul(new Float32Array(8), 1, w, new Float32Array(5)), /out must be \[1, 4\]/);
    assert.throws(() => two.matmul(new Float32Array(8), 1, w, new Float32Array(4), new Float32Array(3)), /bias must be \[4\]/);
    assert.throws(() => two.matmul(new Float32Array(0), 0, w, new Float32Array(0)), /m must be a positive integer/);
    assert.throws(() => one.matmul(new Float32Array(8), 1, w, new Float32Array(4)), /not allocated by this compute pool/);
    assert.throws(() => two.allocWeight({ format: "q8", rows: 2, cols: 40 }, () => {}), /multiple of blockSize: K = 40/);
    assert.throws(() => two.allocWeight({ format: "q8", rows: 2, cols: 40, blockSize: 20 }, () => {}), /multiple of 8/);
    assert.throws(() => two.allocWeight({ format: "f32", rows: 0, cols: 4 }, () => {}), /positive integers/);
    const pool = await createComputePool({ threads: 2 });
    await pool.dispose();
    assert.throws(() => pool.allocWeight({ format: "f32", rows: 1, cols: 1 }, () => {}), /disposed/);
  });
});

describe("compute pool failures", () => {
  const faulty = new URL("./fault-worker.js", import.meta.url);

  async function withFault<T>(fault: string, body: () => Promise<T>): Promise<T> {
    const saved = process.env["OAR_FAULT"];
    process.env["OAR_FAULT"] = fault;
    try {
      return await body();
    } finally {
      if (saved === undefined) delete process.env["OAR_FAULT"];
      else process.env["OAR_FAULT"] = saved;
    }
  }

  /**
   * Calls matmul until one call throws: a worker takes part in a job only if
   * it is awake in time, so a given call may run entirely on the caller.
   */
  function firstFailure(pool: ComputePool, w: DeviceWeight): Error {
    const x = new Float32Array(256);
    const out = new Float32Array(4096);
    for (let call = 0; call < 200; call++) {
      try {
        pool.matmul(x, 1, w, out);
      } catch (error) {
        return error as Error;
      }
    }
    return assert.fail("the faulty worker never took part in 200 calls");
  }

  test("a worker that throws makes matmul throw, and the pool stays usable", async () => {
    const pool = await withFault("throw", () => startPool({ threads: 2 }, faulty));
    try {
      const w = pool.allocWeight({ format: "f32", rows: 4096, cols: 256 }, ({ data }) => data.fill(0));
      assert.match(firstFailure(pool, w).message, /fault worker: Error: injected fault/);
      assert.match(firstFailure(pool, w).message, /injected fault/);
    } finally {
      await pool.dispose();
    }
  });

  test("a worker that dies holding a chunk makes matmul throw instead of hanging, and later calls too", async () => {
    const pool = await withFault("exit", () => startPool({ threads: 2, watchdogMs: 300 }, faulty));
    try {
      const w = pool.allocWeight({ format: "f32", rows: 4096, cols: 256 }, ({ data }) => data.fill(0));
      assert.match(firstFailure(pool, w).message, /made no progress for 300 ms/);
      assert.throws(() => pool.matmul(new Float32Array(256), 1, w, new Float32Array(4096)), /broken/);
    } finally {
      await pool.dispose();
    }
  });

  test("dispose ends the worker threads", async () => {
    const threadsNow = (): number | undefined => {
      try {
        return Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
      } catch {
        return undefined; // not Linux: the child-process test below still covers it
      }
    };
    const before = threadsNow();
    const pool = await createComputePool({ threads: 3 });
    if (before !== undefined) assert.equal(threadsNow(), before + 2);
    await pool.dispose();
    if (before !== undefined) assert.equal(threadsNow(), before);
  });

  test("a process exits on its own with a pool disposed, or with one never disposed", () => {
    const index = new URL("../index.js", import.meta.url).href;
    for (const end of ["await pool.dispose();", ""]) {
      const script =
        `import { createComputePool } from ${JSON.stringify(index)};` +
        `const pool = await createComputePool({ threads: 2 });` +
        `const w = pool.allocWeight({ format: "f32", rows: 8, cols: 8 }, ({ data }) => data.fill(0));` +
        `pool.matmul(new Float32Array(8), 1, w, new Float32Array(8));` +
        end;
      const file = join(mkdtempSync(join(tmpdir(), "oar-pool-")), "exit.mjs");
      writeFileSync(file, script);
      const child = spawnSync(process.execPath, [file], { timeout: 20_000 });
      assert.equal(child.status, 0, `exit status ${child.status}, signal ${child.signal}: ${child.stderr}`);
    }
  });
});

function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}
