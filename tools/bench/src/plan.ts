/**
 * What a run measures: the configurations, in the order they take turns,
 * the workload each measurement does, and how many rounds. The full plan is
 * what docs/bench/ holds; --quick is a few minutes' check of the main
 * comparisons.
 */
import { BENCH_PRESETS, type BenchPreset, type Configuration, allConfigurations, configuration } from "./configs.js";
import { WARMUP, type Workload } from "./workload.js";

export interface Plan {
  readonly name: "full" | "quick";
  readonly configurations: readonly Configuration[];
  readonly workload: Workload;
  /** Measurements of each configuration (rounds, each configuration once per round). */
  readonly runs: number;
}

export const FULL_WORKLOAD: Workload = { shortPrompt: 32, longPrompt: 512, decodeTokens: 128, batch: 8, batchDecodeTokens: 16 };
export const QUICK_WORKLOAD: Workload = { shortPrompt: 32, longPrompt: 512, decodeTokens: 16, batch: 8, batchDecodeTokens: 8 };

/**
 * The 1.5B shapes run fewer configurations than 0.5B, so that the full run
 * stays under about 45 minutes on 2 cores: each 1.5B measurement costs
 * about three 0.5B ones. Kept: what the 1.5B targets need (static int8
 * fused, and f32 fused for the roofline), the fusion passes' value at int8
 * (unfused), static, transformers.js and llama.cpp at 8 and 4 bits, and
 * dynamic mode at 8 bits. The rest runs with --only.
 */
function fullConfigurations(preset: BenchPreset): Configuration[] {
  if (preset === "qwen2-0.5b") return allConfigurations(preset).filter((c) => !(c.engine.kind === "transformers.js" && !c.engine.fused));
  return [
    configuration(preset, { kind: "dynamic", storage: "q8" }),
    configuration(preset, { kind: "static", weights: "f32", fused: true }),
    configuration(preset, { kind: "static", weights: "int8", fused: true }),
    configuration(preset, { kind: "static", weights: "int8", fused: false }),
    configuration(preset, { kind: "static", weights: "int4", fused: true }),
    configuration(preset, { kind: "transformers.js", weights: "int8", fused: true }),
    configuration(preset, { kind: "transformers.js", weights: "int4", fused: true }),
    configuration(preset, { kind: "llama.cpp", type: "q8_0" }),
    configuration(preset, { kind: "llama.cpp", type: "q4_0" }),
  ];
}

/** The few configurations of --quick (0.5B): one of each engine, and the main 8-bit comparison. */
function quickConfigurations(): Configuration[] {
  const preset: BenchPreset = "qwen2-0.5b";
  return [
    configuration(preset, { kind: "dynamic", storage: "q8" }),
    configuration(preset, { kind: "static", weights: "f32", fused: true }),
    configuration(preset, { kind: "static", weights: "int8", fused: true }),
    configuration(preset, { kind: "transformers.js", weights: "int8", fused: true }),
    configuration(preset, { kind: "llama.cpp", type: "q8_0" }),
  ];
}

export function fullPlan(): Plan {
  return { name: "full", configurations: BENCH_PRESETS.flatMap(fullConfigurations), workload: FULL_WORKLOAD, runs: 5 };
}

export function quickPlan(): Plan {
  return { name: "quick", configurations: quickConfigurations(), workload: QUICK_WORKLOAD, runs: 3 };
}

/** Every configuration there is (what --only chooses from). */
export function everyConfiguration(): Configuration[] {
  return BENCH_PRESETS.flatMap(allConfigurations);
}

/** Positions per sequence a workload needs (the longest prompt plus its new tokens, the warm-up's, a margin). */
export function positionsFor(w: Workload): number {
  return Math.max(w.longPrompt + 1, w.shortPrompt + w.decodeTokens, w.shortPrompt + w.batchDecodeTokens, WARMUP.prompt + WARMUP.newTokens) + 16;
}

/**
 * Configurations whose id matches one of `patterns`: a pattern is a
 * substring of the id, `*` matching anything (`0.5b/static-*-fused`).
 */
export function selectConfigurations(from: readonly Configuration[], patterns: readonly string[]): Configuration[] {
  const regexps = patterns.map((p) => new RegExp(p.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")));
  return from.filter((c) => regexps.some((r) => r.test(c.id)));
}
