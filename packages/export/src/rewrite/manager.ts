import type { Graph } from "../ir/graph.js";
import { assertValid } from "../ir/verify.js";
import type { Pass } from "./rule.js";

/** Passes run in order, the whole list repeated until none changes the graph. */
export interface Pipeline {
  readonly name: string;
  readonly passes: readonly Pass[];
}

export interface PassStats {
  readonly pass: string;
  /** Rewrites made over all iterations. */
  readonly fired: number;
  /** Distinct (node, reason) rejections over all iterations. */
  readonly rejected: number;
  /** Each reason once, with how many nodes gave it and the first few of their names. */
  readonly reasons: readonly { readonly reason: string; readonly count: number; readonly nodes: readonly string[] }[];
}

/** What a pipeline did; plain data, ready for JSON (oar_inference.json records it). */
export interface PipelineReport {
  readonly pipeline: string;
  /** Sweeps over the pass list, the last one changing nothing. */
  readonly iterations: number;
  readonly passes: readonly PassStats[];
}

export interface RunOptions {
  /** Run verify() before the pipeline and after every pass that changed the graph, throwing on a problem (tests set this). */
  readonly verify?: boolean;
  /** A pipeline still changing the graph after this many sweeps is an error (rules that undo each other). Default 20. */
  readonly maxIterations?: number;
}

const NODES_PER_REASON = 5;

/** Runs a pipeline to a fixed point and reports, per pass, how often it fired and why it declined. */
export function runPipeline(graph: Graph, pipeline: Pipeline, options: RunOptions = {}): PipelineReport {
  const maxIterations = options.maxIterations ?? 20;
  if (options.verify === true) assertValid(graph, `before pipeline '${pipeline.name}'`);
  const stats = pipeline.passes.map((p) => ({
    pass: p.name,
    fired: 0,
    reasons: new Map<string, { count: number; nodes: string[] }>(),
    seen: new Set<string>(),
  }));
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const changedBy: string[] = [];
    pipeline.passes.forEach((pass, i) => {
      const r = pass.run(graph);
      const s = stats[i]!;
      s.fired += r.fired;
      for (const { node, reason } of r.rejections) {
        const key = `${node}\u0000${reason}`;
        if (s.seen.has(key)) continue;
        s.seen.add(key);
        const entry = s.reasons.get(reason) ?? { count: 0, nodes: [] };
        entry.count++;
        if (entry.nodes.length < NODES_PER_REASON) entry.nodes.push(node);
        s.reasons.set(reason, entry);
      }
      if (!r.changed) return;
      changedBy.push(pass.name);
      if (options.verify === true) {
        assertValid(graph, `after pass '${pass.name}' (pipeline '${pipeline.name}', iteration ${iteration})`);
      }
    });
    if (changedBy.length === 0) {
      return {
        pipeline: pipeline.name,
        iterations: iteration,
        passes: stats.map((s) => ({
          pass: s.pass,
          fired: s.fired,
          rejected: s.seen.size,
          reasons: [...s.reasons].map(([reason, e]) => ({ reason, count: e.count, nodes: e.nodes })),
        })),
      };
    }
    if (iteration === maxIterations) {
      throw new Error(
        `pipeline '${pipeline.name}' still changed the graph after ${maxIterations} iterations ` +
          `(in the last: ${changedBy.join(", ")}); do two of its rules undo each other?`,
      );
    }
  }
  throw new Error(`pipeline '${pipeline.name}': maxIterations must be at least 1, got ${maxIterations}`);
}

/** Runs pipelines one after another. */
export function runPipelines(graph: Graph, pipelines: readonly Pipeline[], options: RunOptions = {}): PipelineReport[] {
  return pipelines.map((p) => runPipeline(graph, p, options));
}
