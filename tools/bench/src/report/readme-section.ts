/**
 * README-section.md: the summary the root README carries (pasted there by
 * hand; every number in it comes from this run): decode by engine and
 * weight format per preset, and the targets met and missed.
 */
import { BENCH_PRESETS, type BenchPreset, type WeightClass } from "../configs.js";
import type { BenchResults, ConfigurationResult } from "../results.js";
import { machineLine } from "./markdown.js";
import { percent, rate } from "./format.js";

const CLASSES: readonly WeightClass[] = ["f32", "16-bit", "8-bit", "4-bit"];

const ROWS: readonly { readonly label: string; readonly pick: (c: ConfigurationResult) => boolean }[] = [
  { label: "Oar static (fused graph)", pick: (c) => c.engine.kind === "static" && c.engine.fused },
  { label: "Oar dynamic", pick: (c) => c.engine.kind === "dynamic" },
  { label: "transformers.js (same graph)", pick: (c) => c.engine.kind === "transformers.js" && c.engine.fused },
  { label: "llama.cpp (GGUF, 2 threads)", pick: (c) => c.engine.kind === "llama.cpp" },
];

function cell(r: BenchResults, preset: BenchPreset, pick: (c: ConfigurationResult) => boolean, w: WeightClass, show: (c: ConfigurationResult) => string): string {
  const c = r.configurations.find((x) => x.preset === preset && x.weightClass === w && pick(x) && x.median !== null);
  return c === undefined ? "-" : show(c);
}

function decodeTable(r: BenchResults, preset: BenchPreset): string | null {
  if (!r.configurations.some((c) => c.preset === preset && c.median !== null)) return null;
  const lines = [`| ${preset}, decode tok/s, batch 1 | ${CLASSES.join(" | ")} |`, `| --- | ${CLASSES.map(() => "---:").join(" | ")} |`];
  for (const row of ROWS) {
    lines.push(`| ${row.label} | ${CLASSES.map((w) => cell(r, preset, row.pick, w, (c) => rate(c.median!.decode))).join(" | ")} |`);
  }
  const staticRow = ROWS[0]!;
  lines.push(`| Oar static, share of its roofline | ${CLASSES.map((w) => cell(r, preset, staticRow.pick, w, (c) => percent(c.rooflineFraction))).join(" | ")} |`);
  return lines.join("\n");
}

export function readmeSection(r: BenchResults): string {
  const lines = [
    "## Speed",
    "",
    `Measured by \`npm run bench\` ([tools/bench](tools/bench/README.md)) on ${machineLine(r)}, ` +
      `${r.runs} interleaved runs per configuration, medians; random weights with the real Qwen2 shapes, greedy, EOS ignored. ` +
      "Full tables (prefill at 32 and 512 tokens, time to first token, batch 8, load time, memory, sizes): [docs/bench/results.md](docs/bench/results.md).",
    "",
    "![decode tokens/s by configuration, with the memory-bandwidth roofline](docs/bench/decode.svg)",
    "",
  ];
  for (const preset of BENCH_PRESETS) {
    const t = decodeTable(r, preset);
    if (t !== null) lines.push(t, "");
  }
  const measured = r.targets.filter((t) => t.met !== null);
  const missed = measured.filter((t) => t.met === false);
  lines.push(`Targets: ${measured.length - missed.length} of ${measured.length} measured targets met.`);
  if (missed.length > 0) {
    lines.push("Missed:", "");
    for (const t of missed) lines.push(`- ${t.target}: ${t.measured} (issue ${t.issue})`);
  }
  lines.push("");
  return lines.join("\n");
}
