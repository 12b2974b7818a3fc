import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cachedTinyModel, stories260K } from "@oar/make-tiny-model";
import { type DecoderConfig, readDecoderConfig } from "@oar/modeling";
import { type Tensor, cast, openCheckpoint } from "@oar/tensor";
import { Graph } from "../../ir/graph.js";
import { Initializer } from "../../ir/initializer.js";
import type { OpType } from "../../ir/ops.js";
import { runPipelines } from "../../rewrite/manager.js";
import { randomF32, runOrt } from "../../testing/ort.js";
import { traceDecoder } from "../../trace/trace.js";
import { cleanupPipeline } from "../cleanup.js";
import { argmaxRows, runSequence, scratchDir, writeScratch } from "../fusion/decoder-runs.js";
import { TINY_QWEN2, handBuiltDecoder, randomWeights } from "../fusion/hand-built-decoder.js";
import { fusionPipelines } from "../fusion/index.js";
import { BlockGeometry, type BlockQuantSpec, dequantize, quantizeMatrix } from "./block-quantize.js";
import { type QuantizationOptions, quantizationPipelines } from "./index.js";
import type { QuantType } from "../../inference-dir/manifest.js";

const dir = scratchDir("oar-quant-");

function matrix(rows: number, cols: number, seed: number): Tensor<"f32"> {
  return { dtype: "f32", shape: [rows, cols], data: randomF32(rows * cols, seed) };
}

function transposed(t: Tensor<"f32">): Tensor<"f32"> {
  const [r, c] = t.shape as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
  return { dtype: "f32", shape: [c, r], data: out };
}

const SPECS: readonly BlockQuantSpec[] = [
  { bits: 4, blockSize: 32, symmetric: true },
  { bits: 4, blockSize: 32, symmetric: false },
  { bits: 8, blockSize: 32, symmetric: true },
  { bits: 8, blockSize: 16, symmetric: false },
];
const label = (s: BlockQuantSpec) => `int${s.bits}/${s.blockSize}${s.symmetric ? "" : "+zp"}`;

describe("block quantization", () => {
  it("packs 4-bit levels two per byte, element 2j in the low nibble; the extreme maps to level 0", () => {
    const row = new Float32Array(32);
    row[0] = -4; // the extreme: scale -4 / -8 = 0.5, level 0
    row[1] = 3.5; // 3.5 / 0.5 + 8 = 15
    row[2] = 1; // 10
    const { q } = quantizeMatrix(Initializer.fromTensor({ dtype: "f32", shape: [1, 32], data: row }), "out-in", SPECS[0]!);
    assert.deepEqual([...q.packed.subarray(0, 2)], [0xf0, 0x8a]);
    assert.deepEqual([...q.scales], [0.5]);
    assert.equal(q.zeroPoints, null);
  });

  for (const spec of SPECS) {
    it(`${label(spec)}: every weight within half a step of its value, K = 72 (not a multiple of the block)`, () => {
      const w = matrix(72, 24, 3);
      const { geo, q } = quantizeMatrix(Initializer.fromTensor(w), "in-out", spec);
      assert.deepEqual([geo.n, geo.k, geo.kBlocks], [24, 72, Math.ceil(72 / spec.blockSize)]);
      for (let n = 0; n < 24; n++) {
        for (let k = 0; k < 72; k++) {
          const scale = q.scales[n * geo.kBlocks + Math.floor(k / spec.blockSize)]!;
          const v = w.data[k * 24 + n]!;
          // Symmetric blocks put the extreme on the lowest level, so the far end has one level fewer:
          // a value of the other sign beyond the top level is clamped to it, within a whole step.
          const clamped = spec.symmetric && Math.round(v / scale) > geo.defaultZeroPoint - 1;
          const bound = (clamped ? 1 : 0.5) * Math.abs(scale) + 1e-7;
          assert.ok(Math.abs(dequantize(geo, q, n, k) - v) <= bound, `n=${n} k=${k}`);
        }
      }
    });
  }

  it("gives the same bytes for a [K, N] weight and its [N, K] transpose", () => {
    const w = matrix(96, 40, 5);
    for (const spec of SPECS) {
      const a = quantizeMatrix(Initializer.fromTensor(w), "in-out", spec).q;
      const b = quantizeMatrix(Initializer.fromTensor(transposed(w)), "out-in", spec).q;
      assert.deepEqual([a.packed, a.scales, a.zeroPoints], [b.packed, b.scales, b.zeroPoints], label(spec));
    }
  });

  it("reads a weight only when the model is written, once per write for all its parts", () => {
    const w = matrix(64, 16, 9);
    let reads = 0;
    const g = new Graph();
    const x = g.input("x", "f32", [2, 64]);
    const weight = g.initializer({
      dtype: "f32",
      shape: [64, 16],
      source: {
        description: "counted",
        *chunks() {
          reads++;
          yield new Uint8Array(w.data.buffer);
        },
      },
    });
    g.output(g.op("MatMul", [x, weight]), "y");
    runPipelines(g, quantizationPipelines("weight_only_int4", { symmetric: false }));
    assert.equal(reads, 0);
    assert.deepEqual(
      g.nodes.map((n) => n.opType),
      ["MatMulNBits"],
    );
    writeScratch(g, dir);
    assert.equal(reads, 1, "packed bits, scales and zero points come from one read");
    writeScratch(g, dir);
    assert.equal(reads, 2);
  });
});

describe("quantized ops on onnxruntime", () => {
  const x = { dtype: "f32", shape: [3, 172], data: randomF32(3 * 172, 1) } as Tensor;
  const w = matrix(172, 24, 2);

  /** x [3, K] . w' [K, N] with w' given elementwise. */
  const product = (weight: (k: number, n: number) => number): number[] => {
    const out: number[] = [];
    for (let m = 0; m < 3; m++) {
      for (let n = 0; n < 24; n++) {
        let s = 0;
        for (let k = 0; k < 172; k++) s += (x.data as Float32Array)[m * 172 + k]! * weight(k, n);
        out.push(s);
      }
    }
    return out;
  };

  for (const spec of SPECS) {
    it(`MatMulNBits ${label(spec)} (accuracy_level 0) computes x times the dequantized weight`, async () => {
      const g = new Graph();
      g.output(g.op("MatMul", [g.input("x", "f32", [3, 172]), g.initializer(w)]), "y");
      runPipelines(g, quantizationPipelines(spec.bits === 4 ? "weight_only_int4" : "weight_only_int8", { ...spec, accuracyLevel: 0 }));
      assert.equal(g.nodes[0]!.opType, "MatMulNBits");
      const y = (await runOrt(writeScratch(g, dir), { x })).y!;
      const { geo, q } = quantizeMatrix(Initializer.fromTensor(w), "in-out", spec);
      const expected = product((k, n) => dequantize(geo, q, n, k));
      assert.ok(y.every((v, i) => Math.abs(v - expected[i]!) < 1e-4), label(spec));
    });
  }

  it("GatherBlockQuantized returns the dequantized rows (int4 and int8, with and without zero points)", async () => {
    const table = matrix(40, 64, 4);
    for (const spec of SPECS) {
      const g = new Graph();
      const ids = g.input("ids", "i64", [2, 3]);
      g.output(g.op("Gather", [g.initializer(table), ids], { attrs: { axis: 0 } }), "rows");
      runPipelines(g, quantizationPipelines(spec.bits === 4 ? "weight_only_int4" : "weight_only_int8", { ...spec, embeddingMinBytes: 0 }));
      assert.equal(g.nodes[0]!.opType, "GatherBlockQuantized");
      const picked = [3, 0, 39, 39, 7, 12];
      const rows = (await runOrt(writeScratch(g, dir), { ids: { dtype: "i64", shape: [2, 3], data: BigInt64Array.from(picked.map(BigInt)) } })).rows!;
      const geo = new BlockGeometry(40, 64, spec);
      const { q } = quantizeMatrix(Initializer.fromTensor(table), "out-in", spec);
      const expected = picked.flatMap((r) => Array.from({ length: 64 }, (_, k) => dequantize(geo, q, r, k)));
      assert.deepEqual(rows, expected.map((v) => Math.fround(v)), label(spec));
    }
  });

  for (const symmetric of [true, false]) {
    it(`DynamicQuantizeMatMul (a8w8, ${symmetric ? "int8" : "uint8 with zero points"}) stays within int8 error of f32`, async () => {
      const g = new Graph();
      g.output(g.op("MatMul", [g.input("x", "f32", [3, 172]), g.initializer(w)]), "y");
      runPipelines(g, quantizationPipelines("a8w8", { symmetric }));
      assert.equal(g.nodes[0]!.opType, "DynamicQuantizeMatMul");
      const y = (await runOrt(writeScratch(g, dir), { x })).y!;
      const exact = product((k, n) => w.data[k * 24 + n]!);
      const worst = Math.max(...y.map((v, i) => Math.abs(v - exact[i]!)));
      // Activations quantized per tensor to 8 bits: a step of 2/255 on values in [-1, 1], over sums of 172 products.
      assert.ok(worst < 0.1, `a8w8 differs from f32 by ${worst}`);
    });
  }
});

/** How a quantized graph's logits compare with f32's along one sequence. */
interface Agreement {
  readonly maxAbs: number;
  /** Mean |difference| over the RMS of f32's logits. */
  readonly relativeMean: number;
  /** Positions whose top-1 token is not f32's. */
  readonly flips: readonly number[];
  readonly positions: number;
}

function agreement(reference: readonly number[], quantized: readonly number[], vocab: number, positions: number): Agreement {
  const ref = argmaxRows(reference.slice(0, positions * vocab), vocab);
  const got = argmaxRows(quantized.slice(0, positions * vocab), vocab);
  let maxAbs = 0;
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < positions * vocab; i++) {
    const d = Math.abs(reference[i]! - quantized[i]!);
    maxAbs = Math.max(maxAbs, d);
    sum += d;
    squares += reference[i]! ** 2;
  }
  return { maxAbs, relativeMean: sum / Math.sqrt(squares * positions * vocab), flips: ref.flatMap((t, i) => (t === got[i] ? [] : [i])), positions };
}

/** f32's top-1 minus top-2 logit at each of the first `positions` rows: how close each greedy choice is. */
function margins(logits: readonly number[], vocab: number, positions: number): number[] {
  return Array.from({ length: positions }, (_, p) => {
    const row = logits.slice(p * vocab, (p + 1) * vocab).sort((a, b) => b - a);
    return row[0]! - row[1]!;
  });
}

interface Variant {
  readonly name: string;
  /** Changes a fused f32 graph into the variant. */
  apply(g: Graph): void;
}

const quantized = (name: string, quant: QuantType, options: QuantizationOptions = {}): Variant => ({
  name,
  apply: (g) => void runPipelines(g, quantizationPipelines(quant, options), { verify: true }),
});

const VARIANTS: readonly Variant[] = [
  quantized("weight_only_int8", "weight_only_int8"),
  quantized("weight_only_int8 acc0", "weight_only_int8", { accuracyLevel: 0 }),
  quantized("weight_only_int4", "weight_only_int4"),
  quantized("weight_only_int4 +zp", "weight_only_int4", { symmetric: false }),
  quantized("a8w8", "a8w8"),
];

/** A control, not a quantization: every MatMul weight rounded to bf16 (relative error about 2^-9) and back. */
const BF16_ROUNDED: Variant = {
  name: "f32 weights rounded to bf16",
  apply: (g) => {
    for (const n of g.nodes.filter((x) => x.is("MatMul") && x.input(1).initializer !== null)) {
      n.setInput(1, g.initializer(cast(cast(n.input(1).initializer!.toTensor(), "bf16"), "f32")));
    }
    runPipelines(g, [cleanupPipeline()]);
  },
};

/**
 * Logits of `ids` on `build()`'s fused graph in f32 and in each variant,
 * with the agreement of each with f32 over the first `positions` positions,
 * printed.
 */
async function measure(
  what: string,
  build: () => Graph,
  config: DecoderConfig,
  ids: readonly number[],
  positions: number,
  variants: readonly Variant[],
): Promise<{ reference: number[]; results: Map<string, Agreement>; graphs: Map<string, Graph> }> {
  const prepare = () => {
    const g = build();
    runPipelines(g, [cleanupPipeline(), ...fusionPipelines({ maxPositions: config.maxPositions })]);
    return g;
  };
  const reference = await runSequence(writeScratch(prepare(), dir), config, ids);
  const results = new Map<string, Agreement>();
  const graphs = new Map<string, Graph>();
  for (const v of variants) {
    const g = prepare();
    v.apply(g);
    const a = agreement(reference, await runSequence(writeScratch(g, dir), config, ids), config.vocabSize, positions);
    results.set(v.name, a);
    graphs.set(v.name, g);
    const first = a.flips[0] ?? a.positions;
    console.log(
      `# ${what}, ${v.name.padEnd(28)} vs f32: top-1 ${a.positions - a.flips.length}/${a.positions}, same greedy tokens for ${first}, ` +
        `logits max |d| ${a.maxAbs.toFixed(3)}, mean |d| ${(100 * a.relativeMean).toFixed(2)}% of their RMS`,
    );
  }
  return { reference, results, graphs };
}

const count = (g: Graph, op: OpType) => g.nodes.filter((n) => n.is(op)).length;

describe("quantizationPipelines on decoders (agreement with f32 printed)", () => {
  it("a fused 2-layer Qwen2-like graph: every MatMul quantized, merged ones included", async () => {
    const ids = Array.from({ length: 48 }, (_, i) => (i * 37 + 11) % TINY_QWEN2.vocabSize);
    const build = () => handBuiltDecoder({ config: TINY_QWEN2, weight: randomWeights(TINY_QWEN2, 7), style: "trace" });
    const { results, graphs } = await measure("tiny Qwen2-like", build, TINY_QWEN2, ids, ids.length, VARIANTS);
    const int4 = graphs.get("weight_only_int4")!;
    assert.deepEqual([count(int4, "MatMulNBits"), count(int4, "MatMul"), count(int4, "GroupQueryAttention")], [2 * 4 + 1, 0, 2]);
    assert.equal(count(graphs.get("a8w8")!, "DynamicQuantizeMatMul"), 9);
    const bounds: Record<string, number> = { weight_only_int8: 0.03, "weight_only_int8 acc0": 0.03, weight_only_int4: 0.3, "weight_only_int4 +zp": 0.3, a8w8: 0.05 };
    for (const [name, a] of results) assert.ok(a.relativeMean < bounds[name]!, `${name}: mean logit error ${a.relativeMean} of their RMS`);
  });

  it("stories260K: weight-only int8 keeps every clear greedy choice of the first 64 tokens", async (t) => {
    const fixture = stories260K();
    if ("missing" in fixture) {
      t.skip(fixture.missing);
      return;
    }
    const config = readDecoderConfig(fixture.dir);
    const ids = [...fixture.promptIds, ...fixture.greedyNewIds];
    const build = () => traceDecoder({ config, checkpoint: openCheckpoint(fixture.dir), where: fixture.dir });
    const positions = 64;
    const { reference, results } = await measure("stories260K", build, config, ids, positions, [...VARIANTS, BF16_ROUNDED]);
    assert.deepEqual(argmaxRows(reference, config.vocabSize).slice(0, positions), fixture.greedyNewIds.slice(0, positions), "f32 is llama2.c's greedy path");
    const margin = margins(reference, config.vocabSize, positions);
    for (const name of ["weight_only_int8", "weight_only_int8 acc0", BF16_ROUNDED.name]) {
      const flips = results.get(name)!.flips;
      console.log(`# stories260K, ${name}: flips at ${flips.map((p) => `${p} (f32 margin ${margin[p]!.toFixed(3)})`).join(", ") || "none"}`);
    }
    // A choice f32 makes by less than half a logit is a coin toss for any 8-bit weights (bf16 rounding flips some too).
    const clear = margin.flatMap((m, p) => (m >= CLEAR_MARGIN ? [p] : []));
    const int8 = results.get("weight_only_int8")!;
    const flippedClear = int8.flips.filter((p) => margin[p]! >= CLEAR_MARGIN);
    console.log(`# stories260K, weight_only_int8: ${flippedClear.length} of ${clear.length} clear choices (f32 margin >= ${CLEAR_MARGIN}) flipped, ${int8.flips.length} of ${positions} in all`);
    assert.ok(flippedClear.length <= 0.01 * clear.length, `int8 flips clear greedy choices at ${flippedClear.join(", ")}`);
  });

  it("a traced tiny Qwen2 (make-tiny-model): the 151936-row embedding becomes GatherBlockQuantized", async () => {
    const modelDir = cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" });
    const config = readDecoderConfig(modelDir);
    const ids = Array.from({ length: 12 }, (_, i) => (i * 7919 + 13) % config.vocabSize);
    const build = () => traceDecoder({ config, checkpoint: openCheckpoint(modelDir), where: modelDir });
    const variants = VARIANTS.filter((v) => v.name === "weight_only_int8" || v.name === "weight_only_int4");
    const { results, graphs } = await measure("tiny Qwen2 (traced)", build, config, ids, ids.length, variants);
    for (const [name, g] of graphs) assert.deepEqual([count(g, "GatherBlockQuantized"), count(g, "Gather"), count(g, "MatMul")], [1, 0, 0], name);
    assert.ok(results.get("weight_only_int8")!.relativeMean < 0.03);
  });
});

/** Logits this far apart make a greedy choice that small weight noise should not change. */
const CLEAR_MARGIN = 0.5;
