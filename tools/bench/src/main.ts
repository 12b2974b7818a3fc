/**
 * npm run bench: Oar's dynamic and static modes against transformers.js on
 * the same exported graphs, llama.cpp on GGUFs of the same shapes, and the
 * memory-bandwidth roofline. Prepares everything (cached outside the
 * repository), probes the bandwidth, measures in interleaved rounds, probes
 * again, and writes results.md, results.json, decode.svg and
 * README-section.md. See ../README.md.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { bandwidthFor, mergeProbes, probeBandwidth } from "./bandwidth/curve.js";
import type { Bandwidth } from "./bandwidth/probe.js";
import { cacheRoot } from "./cache.js";
import { type CliOptions, USAGE, parseCli } from "./cli.js";
import { BENCH_PRESETS, type Configuration } from "./configs.js";
import { describeMachine, loadAverage } from "./machine.js";
import { type Plan, everyConfiguration, fullPlan, positionsFor, quickPlan, selectConfigurations } from "./plan.js";
import { isPrepared, prepare } from "./prepare.js";
import { type BenchResults, summarize } from "./results.js";
import { runRounds, waitForIdle } from "./rounds.js";
import { evaluateTargets } from "./targets.js";
import { packageVersions } from "./versions.js";
import { writeOutputs } from "./report/write.js";

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The plan the options describe, and whether it is the full default one (the one docs/bench holds). */
function resolvePlan(o: CliOptions): { plan: Plan; isDefault: boolean } {
  const base = o.quick ? quickPlan() : fullPlan();
  let configurations: readonly Configuration[] = o.only === null ? base.configurations : selectConfigurations(everyConfiguration(), o.only);
  if (o.presets !== null) {
    const unknown = o.presets.filter((p) => !BENCH_PRESETS.some((b) => b === p));
    if (unknown.length > 0) throw new Error(`--preset: unknown preset ${unknown.join(", ")} (presets: ${BENCH_PRESETS.join(", ")})`);
    configurations = configurations.filter((c) => o.presets!.includes(c.preset));
  }
  if (configurations.length === 0) {
    throw new Error(`no configuration matches; configurations:\n  ${everyConfiguration().map((c) => c.id).join("\n  ")}`);
  }
  const workload = o.tokens === null ? base.workload : { ...base.workload, decodeTokens: o.tokens };
  const isDefault = !o.quick && o.only === null && o.presets === null && o.runs === null && o.tokens === null;
  return { plan: { ...base, configurations, workload, runs: o.runs ?? base.runs }, isDefault };
}

function defaultOutDir(plan: Plan, isDefault: boolean): string {
  if (isDefault) return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../docs/bench");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return path.join(cacheRoot(), "bench-results", `${plan.name}-${stamp}`);
}

/** One bandwidth probe of every size, once the CPUs are free (or maxWaitS has passed). */
async function probe(label: string, maxWaitS: number): Promise<Bandwidth[]> {
  await waitForIdle(maxWaitS, log);
  const b = probeBandwidth();
  log(`bandwidth (${label}): ${b.map((p) => `${(p.bufferBytes / 2 ** 20).toFixed(0)} MiB ${(p.bestBytesPerS / 1e9).toFixed(1)}`).join(", ")} GB/s`);
  return b;
}

async function main(): Promise<void> {
  let options: CliOptions;
  let resolved: { plan: Plan; isDefault: boolean };
  try {
    options = parseCli(process.argv.slice(2));
    if (options.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    resolved = resolvePlan(options);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { plan, isDefault } = resolved;
  if (!isDefault && options.out !== null && path.resolve(options.out) === defaultOutDir(plan, true)) {
    log("note: a partial or quick run is being written to docs/bench; the README's numbers must come from a full run");
  }
  if (options.list) {
    for (const c of plan.configurations) process.stdout.write(`${c.id}\n`);
    return;
  }
  const started = performance.now();
  // A run with no options but --quick is labelled by its plan alone; others carry their command line.
  const plainRun = isDefault || (options.quick && process.argv.length === 3);
  const outDir = options.out === null ? defaultOutDir(plan, isDefault) : path.resolve(options.out);
  const machine = describeMachine();
  const loadStart = loadAverage();
  log(`oar bench (${plan.name}): ${plan.configurations.length} configurations x ${plan.runs} runs on ${machine.cpuModel}, ${machine.cores} cores`);
  log(`load average ${loadStart.map((x) => x.toFixed(2)).join(" ")}; cache ${cacheRoot()}; results to ${outDir}`);

  const prepared = await prepare(plan.configurations, log);
  for (const p of prepared) if (!isPrepared(p)) log(p.problem);
  const ready = prepared.filter(isPrepared);

  const maxWaitS = options.maxWaitS ?? (plan.name === "quick" ? 30 : 120);
  const probes = [await probe("before", maxWaitS)];
  const measured = await runRounds(ready, {
    runs: plan.runs,
    workload: plan.workload,
    positions: positionsFor(plan.workload),
    maxWaitS,
    timeoutS: 900,
    log,
    betweenRounds: async () => {
      probes.push(await probe("between rounds", maxWaitS));
    },
  });
  probes.push(await probe("after", maxWaitS));
  const curve = mergeProbes(probes);

  const configurations = prepared.map((p) =>
    isPrepared(p)
      ? summarize({
          configuration: p.configuration,
          artifact: p.path,
          artifactBytes: p.bytes,
          weightBytesPerToken: p.weightBytesPerToken,
          samples: measured.samples.get(p.configuration.id) ?? [],
          bandwidthBytesPerS: bandwidthFor(curve, p.weightBytesPerToken),
          problem: measured.problems.get(p.configuration.id) ?? null,
        })
      : summarize({ configuration: p.configuration, artifact: null, artifactBytes: null, weightBytesPerToken: null, samples: [], bandwidthBytesPerS: null, problem: p.problem }),
  );
  const results: BenchResults = {
    date: new Date().toISOString(),
    plan: plainRun ? plan.name : `${plan.name}: ${process.argv.slice(2).join(" ")}`,
    runs: plan.runs,
    workload: plan.workload,
    machine,
    bandwidth: { curve, threads: probes[0]![0]!.threads, probes: probes.length },
    loadAverage: { start: loadStart, end: loadAverage() },
    versions: packageVersions(),
    durationS: (performance.now() - started) / 1000,
    configurations,
    targets: evaluateTargets(configurations),
  };
  const written = writeOutputs(results, outDir);
  process.stdout.write(`${written.markdown}\n`);
  log(`wrote ${written.files.join(", ")} in ${outDir} (${(results.durationS / 60).toFixed(1)} min)`);
}

await main();
