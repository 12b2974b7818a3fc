/**
 * The speed targets of the issues this bench measures (8: peers and
 * roofline; 5: static mode; 3: dynamic mode), checked against a run's
 * medians. A target whose configurations were not measured says so.
 */
import { type BenchPreset, type Engine, type ExportWeights, type GgufType, presetTag } from "./configs.js";
import type { ConfigurationResult, Medians, TargetResult } from "./results.js";

type Pick = (e: Engine) => boolean;

const staticFused = (w: ExportWeights): Pick => (e) => e.kind === "static" && e.weights === w && e.fused;
const tjs = (w: ExportWeights): Pick => (e) => e.kind === "transformers.js" && e.weights === w && e.fused;
const llama = (t: GgufType): Pick => (e) => e.kind === "llama.cpp" && e.type === t;
const dynamic = (s: "f32" | "bf16" | "q8"): Pick => (e) => e.kind === "dynamic" && e.storage === s;

const GGUF_OF: Readonly<Record<ExportWeights, GgufType>> = { f32: "f32", int8: "q8_0", int4: "q4_0" };

const rate = (x: number): string => `${x.toFixed(1)} tok/s`;
const mib = (x: number): string => `${(x / 2 ** 20).toFixed(0)} MiB`;

export function evaluateTargets(results: readonly ConfigurationResult[]): TargetResult[] {
  const find = (preset: BenchPreset, pick: Pick): (ConfigurationResult & { median: Medians }) | null => {
    const r = results.find((c) => c.preset === preset && pick(c.engine) && c.median !== null);
    return r === undefined ? null : (r as ConfigurationResult & { median: Medians });
  };
  const out: TargetResult[] = [];
  const missing = (issue: number, target: string): void => {
    out.push({ issue, target, measured: "not measured in this run", met: null });
  };

  for (const preset of ["qwen2-0.5b", "qwen2-1.5b"] as const) {
    const tag = presetTag(preset);
    for (const w of ["f32", "int8", "int4"] as const) {
      const target = `${tag} static ${w} fused decode >= 1.2x transformers.js on the same graph`;
      const [ours, theirs] = [find(preset, staticFused(w)), find(preset, tjs(w))];
      if (ours === null || theirs === null) missing(8, target);
      else {
        const r = ours.median.decode / theirs.median.decode;
        out.push({ issue: 8, target, measured: `${rate(ours.median.decode)} vs ${rate(theirs.median.decode)}: ${r.toFixed(2)}x`, met: r >= 1.2 });
      }
    }
    for (const w of ["f32", "int8", "int4"] as const) {
      const g = GGUF_OF[w];
      const target = `${tag} static ${w} fused decode ahead of llama.cpp ${g.toUpperCase()}`;
      const [ours, theirs] = [find(preset, staticFused(w)), find(preset, llama(g))];
      if (ours === null || theirs === null) missing(8, target);
      else {
        const r = ours.median.decode / theirs.median.decode;
        out.push({ issue: 8, target, measured: `${rate(ours.median.decode)} vs ${rate(theirs.median.decode)}: ${r.toFixed(2)}x`, met: r > 1 });
      }
    }
    {
      const target = `${tag} dynamic bf16 decode ahead of llama.cpp F16 (no 16-bit static export)`;
      const [ours, theirs] = [find(preset, dynamic("bf16")), find(preset, llama("f16"))];
      if (ours === null || theirs === null) missing(8, target);
      else {
        const r = ours.median.decode / theirs.median.decode;
        out.push({ issue: 8, target, measured: `${rate(ours.median.decode)} vs ${rate(theirs.median.decode)}: ${r.toFixed(2)}x`, met: r > 1 });
      }
    }
    {
      const target = `${tag} static f32 fused decode >= 85% of the roofline`;
      const ours = find(preset, staticFused("f32"));
      if (ours === null || ours.rooflineFraction === null || ours.rooflineTokensPerS === null) missing(8, target);
      else {
        out.push({
          issue: 8,
          target,
          measured: `${rate(ours.median.decode)} of ${rate(ours.rooflineTokensPerS)}: ${(ours.rooflineFraction * 100).toFixed(0)}%`,
          met: ours.rooflineFraction >= 0.85,
        });
      }
    }
  }
  {
    const target = "1.5b static int8 fused decode >= 13.2 tok/s";
    const ours = find("qwen2-1.5b", staticFused("int8"));
    if (ours === null) missing(8, target);
    else out.push({ issue: 8, target, measured: rate(ours.median.decode), met: ours.median.decode >= 13.2 });
  }

  const floor = (issue: number, target: string, pick: Pick, min: number): void => {
    const r = find("qwen2-0.5b", pick);
    if (r === null) missing(issue, target);
    else out.push({ issue, target, measured: rate(r.median.decode), met: r.median.decode >= min });
  };
  floor(5, "0.5b static f32 fused decode >= 16 tok/s", staticFused("f32"), 16);
  floor(5, "0.5b static int8 fused decode >= 45 tok/s", staticFused("int8"), 45);
  floor(5, "0.5b static int4 fused decode >= 55 tok/s", staticFused("int4"), 55);
  for (const w of ["f32", "int8", "int4"] as const) {
    const g = GGUF_OF[w];
    const target = `0.5b static ${w} fused prefill >= llama.cpp ${g.toUpperCase()} (32-token prompt; the issue states 64)`;
    const [ours, theirs] = [find("qwen2-0.5b", staticFused(w)), find("qwen2-0.5b", llama(g))];
    if (ours === null || theirs === null) missing(5, target);
    else {
      out.push({
        issue: 5,
        target,
        measured: `${rate(ours.median.prefillShort)} vs ${rate(theirs.median.prefillShort)}`,
        met: ours.median.prefillShort >= theirs.median.prefillShort,
      });
    }
  }
  {
    const target = "0.5b static int8 fused: batch-8 decode >= 4x batch 1";
    const r = find("qwen2-0.5b", staticFused("int8"));
    if (r === null || r.median.batchDecode === null) missing(5, target);
    else {
      const x = r.median.batchDecode / r.median.decode;
      out.push({ issue: 5, target, measured: `${rate(r.median.batchDecode)} vs ${rate(r.median.decode)}: ${x.toFixed(2)}x`, met: x >= 4 });
    }
  }
  {
    const target = "0.5b static int8 fused peak resident memory < 1 GB";
    const r = find("qwen2-0.5b", staticFused("int8"));
    if (r === null) missing(5, target);
    else out.push({ issue: 5, target, measured: mib(r.median.peakRssBytes), met: r.median.peakRssBytes < 1e9 });
  }

  floor(3, "0.5b dynamic f32 decode >= 10 tok/s", dynamic("f32"), 10);
  floor(3, "0.5b dynamic bf16 decode >= 15 tok/s", dynamic("bf16"), 15);
  floor(3, "0.5b dynamic q8 decode >= 22 tok/s", dynamic("q8"), 22);
  {
    const target = "0.5b dynamic prefill >= 30 tok/s, every storage (32-token prompt; the issue states 64)";
    const rs = (["f32", "bf16", "q8"] as const).map((s) => find("qwen2-0.5b", dynamic(s)));
    if (rs.some((r) => r === null)) missing(3, target);
    else {
      const slowest = Math.min(...rs.map((r) => r!.median.prefillShort));
      out.push({ issue: 3, target, measured: `slowest ${rate(slowest)}`, met: slowest >= 30 });
    }
  }
  {
    const target = "0.5b dynamic bf16 peak resident memory <= 1.3 GB";
    const r = find("qwen2-0.5b", dynamic("bf16"));
    if (r === null) missing(3, target);
    else out.push({ issue: 3, target, measured: mib(r.median.peakRssBytes), met: r.median.peakRssBytes <= 1.3e9 });
  }
  return out;
}
