/** results.md: the machine, the tables per preset, the targets, and how it was measured. */
import { BENCH_PRESETS, type BenchPreset } from "../configs.js";
import { type BenchResults, type ConfigurationResult, dramBandwidth } from "../results.js";
import { fixed, gbps, mib, percent, rate } from "./format.js";

export function machineLine(r: BenchResults): string {
  const m = r.machine;
  return (
    `${r.date.slice(0, 10)} on ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB memory, ` +
    `measured read bandwidth ${gbps(dramBandwidth(r).bestBytesPerS)} (${r.bandwidth.threads} threads, ${mib(dramBandwidth(r).bytes)} MiB buffer)`
  );
}

function row(c: ConfigurationResult): string {
  const m = c.median;
  const id = c.id.slice(c.id.indexOf("/") + 1);
  const range = c.decodeRange === null ? "" : ` (${rate(c.decodeRange[0])}-${rate(c.decodeRange[1])})`;
  const cells = [
    `\`${id}\``,
    m === null ? "-" : fixed(m.loadMs / 1000, 1),
    m === null ? "-" : fixed(m.ttftMs, 0),
    m === null ? "-" : rate(m.prefillShort),
    m === null ? "-" : rate(m.prefillLong),
    m === null ? "-" : `**${rate(m.decode)}**${range}`,
    m === null ? "-" : rate(m.batchDecode),
    c.rooflineTokensPerS === null ? "-" : `${rate(c.rooflineTokensPerS)} (${fixed(c.rooflineBandwidthBytesPerS! / 1e9, 1)})`,
    percent(c.rooflineFraction),
    m === null ? "-" : mib(m.peakRssBytes),
    mib(c.artifactBytes),
    mib(c.weightBytesPerToken),
  ];
  return `| ${cells.join(" | ")} |`;
}

const HEADER =
  "| configuration | load s | TTFT ms | prefill 32 tok/s | prefill 512 tok/s | decode tok/s (min-max) | decode x8 tok/s | roofline tok/s (GB/s) | of roofline | peak RSS MiB | size MiB | weights MiB/token |\n" +
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

export function presetTable(r: BenchResults, preset: BenchPreset): string | null {
  const rows = r.configurations.filter((c) => c.preset === preset);
  if (rows.length === 0) return null;
  return [HEADER, ...rows.map(row)].join("\n");
}

export function targetsTable(r: BenchResults): string {
  const mark = (met: boolean | null): string => (met === null ? "not measured" : met ? "met" : "**missed**");
  return [
    "| issue | target | measured | |",
    "| ---: | --- | --- | --- |",
    ...r.targets.map((t) => `| ${t.issue} | ${t.target} | ${t.measured} | ${mark(t.met)} |`),
  ].join("\n");
}

/** How many measurements other processes may have slowed (they kept CPUs busy just before). */
function busyLine(r: BenchResults): string {
  const samples = r.configurations.flatMap((c) => c.samples);
  const busy = samples.filter((s) => (s.othersBusyCores ?? 0) >= 0.2).length;
  return busy === 0
    ? `No other process used the CPUs just before any of the ${samples.length} measurements.`
    : `Other processes kept at least 0.2 of a core busy just before ${busy} of the ${samples.length} measurements (the bench waited for them up to its limit; medians damp the rest).`;
}

export function resultsMarkdown(r: BenchResults): string {
  const w = r.workload;
  const versions = Object.entries(r.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const lines: string[] = [
    "# Oar benchmark results",
    "",
    `Measured ${machineLine(r)}. ${versions}.`,
    `Load average (1, 5, 15 min) ${r.loadAverage.start.map((x) => x.toFixed(2)).join(" ")} at the start, ${r.loadAverage.end.map((x) => x.toFixed(2)).join(" ")} at the end; ` +
      `the run took ${(r.durationS / 60).toFixed(1)} min.`,
    busyLine(r),
    "",
    `Plan \`${r.plan}\`: ${r.runs} measurements of each configuration, taking turns (A B C A B C ...), each in a fresh process; ` +
      `medians shown. Prompts of ${w.shortPrompt} and ${w.longPrompt} tokens; decode of ${w.decodeTokens} new tokens at batch 1` +
      (w.batch > 0 ? ` and ${w.batchDecodeTokens} per sequence at batch ${w.batch}` : "") +
      "; greedy, EOS ignored. Random weights with the real Qwen2 shapes (speed does not depend on the values).",
    "",
    "![decode tokens/s by configuration, with each one's roofline](decode.svg)",
    "",
  ];
  for (const preset of BENCH_PRESETS) {
    const table = presetTable(r, preset);
    if (table === null) continue;
    lines.push(`## ${preset}`, "", table, "");
  }
  lines.push("## Targets", "", targetsTable(r), "");
  lines.push(
    "## Read bandwidth",
    "",
    `${r.bandwidth.threads} threads reading one buffer with 128-bit WebAssembly loads, ${r.bandwidth.probes} probes (before, between and after the rounds); per buffer size, the best trial of all probes and the lowest probe median:`,
    "",
    "| buffer MiB | best GB/s | median GB/s |",
    "| ---: | ---: | ---: |",
    ...r.bandwidth.curve.map((p) => `| ${mib(p.bytes)} | ${fixed(p.bestBytesPerS / 1e9, 1)} | ${fixed(p.medianBytesPerS / 1e9, 1)} |`),
    "",
  );
  const problems = r.configurations.filter((c) => c.problem !== null);
  if (problems.length > 0) {
    lines.push("## Problems", "");
    for (const c of problems) lines.push(`- \`${c.id}\`: ${c.problem!.replace(/\n/g, " ")}`);
    lines.push("");
  }
  lines.push("## Configurations", "");
  for (const c of r.configurations) lines.push(`- \`${c.id}\`: ${c.description}`);
  lines.push(
    "",
    "## How to read this",
    "",
    "- **TTFT**: from asking for a completion of the 32-token prompt to its first new token (batch 1).",
    "- **prefill**: prompt tokens / time of the forward pass over the prompt (and the choice of the first token).",
    "- **decode**: new tokens after the first / time after the first, batch 1; **x8**: all 8 sequences' tokens / the time of the decode steps.",
    "- **roofline**: read bandwidth / the weight bytes read per decoded token (matrices whole, the tied embedding once as the output head, an embedding lookup as nothing): no batch-1 decode can be faster. The bandwidth (in brackets) is the best the probe read from a buffer of the size nearest those bytes (see below). **of roofline** is the median decode over it.",
    "- **peak RSS**: the measuring process's peak resident memory (model, caches, runtime, Node itself).",
    "- **size**: the files the configuration loads: checkpoint safetensors (dynamic), model.onnx with its data (static, transformers.js), GGUF (llama.cpp).",
    "- Static and transformers.js rows with the same graph run the same exported model.onnx on the same onnxruntime-node; the difference is the runtime around it.",
    "",
  );
  return lines.join("\n");
}
