import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BenchPreset, type Engine, configuration } from "../configs.js";
import { type BenchResults, type ConfigurationResult, summarize } from "../results.js";
import { evaluateTargets } from "../targets.js";
import { resultsMarkdown } from "./markdown.js";
import { readmeSection } from "./readme-section.js";
import { decodeSvg } from "./svg.js";

const GB = 1e9;

function result(preset: BenchPreset, engine: Engine, decode: number, weightBytes: number): ConfigurationResult {
  const sample = (d: number) => ({
    loadMs: 1000,
    ttftMs: 100,
    prefillShort: 300,
    prefillLong: 400,
    decode: d,
    batchDecode: d * 5,
    peakRssBytes: 900 * 2 ** 20,
    tokens: [1, 2, 3],
    othersBusyCores: 0,
  });
  return summarize({
    configuration: configuration(preset, engine),
    artifact: "/cache/x",
    artifactBytes: weightBytes,
    weightBytesPerToken: weightBytes,
    samples: [sample(decode * 0.9), sample(decode), sample(decode * 1.1)],
    bandwidthBytesPerS: 20 * GB,
    problem: null,
  });
}

function results(configurations: ConfigurationResult[]): BenchResults {
  return {
    date: "2026-11-25T00:00:00.000Z",
    plan: "full",
    runs: 3,
    workload: { shortPrompt: 32, longPrompt: 512, decodeTokens: 32, batch: 8, batchDecodeTokens: 16 },
    machine: { cpuModel: "Test CPU <1>", cores: 2, memoryBytes: 8 * 2 ** 30, node: "v20", platform: "linux" },
    bandwidth: { curve: [{ bytes: 3 * 2 ** 30, bestBytesPerS: 20 * GB, medianBytesPerS: 19 * GB }], threads: 2, probes: 2 },
    loadAverage: { start: [0.1, 0.2, 0.3], end: [1, 1, 1] },
    versions: { node: "v20" },
    durationS: 60,
    configurations,
    targets: evaluateTargets(configurations),
  };
}

describe("results", () => {
  const rows = [
    result("qwen2-0.5b", { kind: "static", weights: "f32", fused: true }, 9, 2 * GB),
    result("qwen2-0.5b", { kind: "transformers.js", weights: "f32", fused: true }, 6, 2 * GB),
    result("qwen2-0.5b", { kind: "llama.cpp", type: "f32" }, 10, 2 * GB),
    result("qwen2-1.5b", { kind: "static", weights: "int8", fused: true }, 14, 1.6 * GB),
  ];
  const r = results(rows);

  it("medians, decode range and roofline per configuration", () => {
    const s = rows[0]!;
    assert.equal(s.median!.decode, 9);
    assert.deepEqual(s.decodeRange, [9 * 0.9, 9 * 1.1]);
    assert.equal(s.rooflineTokensPerS, 10);
    assert.ok(Math.abs(s.rooflineFraction! - 0.9) < 1e-12);
  });

  it("targets: met, missed and not measured", () => {
    const find = (t: string) => r.targets.find((x) => x.target === t);
    assert.equal(find("0.5b static f32 fused decode >= 1.2x transformers.js on the same graph")!.met, true);
    assert.equal(find("0.5b static f32 fused decode ahead of llama.cpp F32")!.met, false);
    assert.equal(find("0.5b static f32 fused decode >= 85% of the roofline")!.met, true);
    assert.equal(find("1.5b static int8 fused decode >= 13.2 tok/s")!.met, true);
    assert.equal(find("0.5b static int4 fused decode >= 55 tok/s")!.met, null);
  });

  it("markdown, README section and SVG name every measured configuration", () => {
    const md = resultsMarkdown(r);
    const section = readmeSection(r);
    const svg = decodeSvg(r);
    for (const c of rows) {
      const id = c.id.slice(c.id.indexOf("/") + 1);
      assert.ok(md.includes(`\`${id}\``), id);
      assert.ok(svg.includes(`>${id}<`), id);
    }
    assert.match(md, /measured read bandwidth 20\.0 GB\/s/);
    assert.match(section, /\| Oar static \(fused graph\) \| 9\.0 \| - \| - \| - \|/);
    assert.ok(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
    assert.ok(svg.includes("Test CPU &lt;1&gt;"), "text is escaped");
  });
});
