/** What a run found: per configuration, its samples and their medians, and the run's setting. */
import { type BenchPreset, type Configuration, type Engine, type WeightClass, describeEngine, weightClass } from "./configs.js";
import type { BandwidthPoint } from "./bandwidth/curve.js";
import type { Machine } from "./machine.js";
import type { Sample, Workload } from "./workload.js";

/** Medians over a configuration's samples, metric by metric (null where the workload skipped the metric). */
export type Medians = Omit<Sample, "tokens">;

export interface MeasuredSample extends Sample {
  /** Cores other processes kept busy in the second before this measurement (machine.othersBusyCores). */
  readonly othersBusyCores: number | null;
}

export interface ConfigurationResult {
  readonly id: string;
  readonly preset: BenchPreset;
  readonly engine: Engine;
  readonly description: string;
  readonly weightClass: WeightClass;
  /** What it ran: checkpoint, inference directory or GGUF file. */
  readonly artifact: string | null;
  /** Its size on disk: checkpoint safetensors, exported graph with its data, GGUF file. */
  readonly artifactBytes: number | null;
  /** Weight bytes read per decoded token (./weight-bytes.ts). */
  readonly weightBytesPerToken: number | null;
  readonly samples: readonly MeasuredSample[];
  readonly median: Medians | null;
  /** Slowest and fastest batch-1 decode. */
  readonly decodeRange: readonly [number, number] | null;
  /** The read bandwidth its roofline is set from: the probe nearest its weight bytes (bandwidth/curve.ts). */
  readonly rooflineBandwidthBytesPerS: number | null;
  /** bandwidth / weightBytesPerToken: batch-1 decode cannot go faster. */
  readonly rooflineTokensPerS: number | null;
  /** median decode / roofline. */
  readonly rooflineFraction: number | null;
  /** Why it has no (or fewer) samples: a preparation or measurement failure. */
  readonly problem: string | null;
}

export interface TargetResult {
  readonly issue: number;
  readonly target: string;
  readonly measured: string;
  /** null: not measured in this run. */
  readonly met: boolean | null;
}

export interface BenchResults {
  readonly date: string;
  readonly plan: string;
  readonly runs: number;
  readonly workload: Workload;
  readonly machine: Machine;
  readonly bandwidth: {
    /** Per probed buffer size: the best rate of all probes, and the lowest median. */
    readonly curve: readonly BandwidthPoint[];
    readonly threads: number;
    /** Probes run (before, between and after the rounds). */
    readonly probes: number;
  };
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly versions: Readonly<Record<string, string>>;
  readonly durationS: number;
  readonly configurations: readonly ConfigurationResult[];
  readonly targets: readonly TargetResult[];
}

/** The rate past the caches: the largest buffer probed. */
export function dramBandwidth(r: BenchResults): BandwidthPoint {
  const curve = r.bandwidth.curve;
  return curve[curve.length - 1]!;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function medianOrNull(xs: readonly (number | null)[]): number | null {
  const present = xs.filter((x): x is number => x !== null);
  return present.length === 0 ? null : median(present);
}

export function summarize(options: {
  readonly configuration: Configuration;
  readonly artifact: string | null;
  readonly artifactBytes: number | null;
  readonly weightBytesPerToken: number | null;
  readonly samples: readonly MeasuredSample[];
  readonly bandwidthBytesPerS: number | null;
  readonly problem: string | null;
}): ConfigurationResult {
  const { configuration: c, samples } = options;
  const m: Medians | null =
    samples.length === 0
      ? null
      : {
          loadMs: median(samples.map((s) => s.loadMs)),
          ttftMs: median(samples.map((s) => s.ttftMs)),
          prefillShort: median(samples.map((s) => s.prefillShort)),
          prefillLong: medianOrNull(samples.map((s) => s.prefillLong)),
          decode: median(samples.map((s) => s.decode)),
          batchDecode: medianOrNull(samples.map((s) => s.batchDecode)),
          peakRssBytes: median(samples.map((s) => s.peakRssBytes)),
        };
  const bandwidth = options.bandwidthBytesPerS;
  const roofline = options.weightBytesPerToken === null || bandwidth === null ? null : bandwidth / options.weightBytesPerToken;
  const decodes = samples.map((s) => s.decode);
  return {
    id: c.id,
    preset: c.preset,
    engine: c.engine,
    description: describeEngine(c.engine),
    weightClass: weightClass(c.engine),
    artifact: options.artifact,
    artifactBytes: options.artifactBytes,
    weightBytesPerToken: options.weightBytesPerToken,
    samples,
    median: m,
    decodeRange: decodes.length === 0 ? null : [Math.min(...decodes), Math.max(...decodes)],
    rooflineBandwidthBytesPerS: roofline === null ? null : bandwidth,
    rooflineTokensPerS: roofline,
    rooflineFraction: roofline === null || m === null ? null : m.decode / roofline,
    problem: options.problem,
  };
}
