/**
 * What export-model prints when it is done: the passes that ran (with how
 * often each fired and declined), the graph's size, the files written with
 * their sizes, the adapters merged, and the time taken.
 */
import type { ExportReport } from "@oar/export";

/** Bytes as B, KiB, MiB or GiB with one decimal. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** The report as lines of text, each ending in "\n". */
export function formatExportReport(report: ExportReport): string {
  const m = report.manifest;
  const lines: string[] = [];
  lines.push(`exported ${m.model.architecture} (${m.model.num_layers} layers) from ${m.source.model_dir} to ${report.outputDir} in ${report.seconds.toFixed(1)} s`);
  lines.push(
    `settings: dtype ${m.dtype}, quant_type ${m.quant_type ?? "none"}, inference_model ${m.inference_model}, ` +
      `block_attn ${m.block_attention.enabled ? `on (block_size ${m.block_attention.block_size})` : "off"}, ` +
      `src_length ${m.src_length ?? "not recorded"}, max_length ${m.max_length ?? "not recorded"}`,
  );
  lines.push("passes:");
  for (const p of report.pipelines) {
    lines.push(`  ${p.pipeline} (${p.iterations} sweep${p.iterations === 1 ? "" : "s"}):`);
    for (const pass of p.passes) {
      const declined = pass.rejected > 0 ? `, declined ${pass.rejected}${pass.reasons[0] === undefined ? "" : ` (${pass.reasons[0].reason}${pass.reasons.length > 1 ? `, +${pass.reasons.length - 1} more reasons` : ""})`}` : "";
      lines.push(`    ${pass.pass}: fired ${pass.fired}${declined}`);
    }
  }
  const ops = Object.entries(m.graph.op_counts)
    .sort(([, a], [, b]) => b - a)
    .map(([op, n]) => `${op} ${n}`)
    .join(", ");
  lines.push(`graph: ${m.graph.node_count} nodes (${ops}), ${formatBytes(m.graph.weight_bytes)} of weights`);
  lines.push("files:");
  const width = Math.max(...report.files.map((f) => f.name.length));
  for (const f of report.files) lines.push(`  ${f.name.padEnd(width)}  ${formatBytes(f.bytes)}`);
  const total = report.files.reduce((s, f) => s + f.bytes, 0);
  lines.push(`  ${"total".padEnd(width)}  ${formatBytes(total)}`);
  for (const l of m.adapters.lora) lines.push(`LoRA merged: ${l.dir} (${l.format})`);
  const prefix = m.adapters.prefix;
  if (prefix !== null) lines.push(`prefix: ${prefix.dir} (${prefix.format}), ${prefix.length} positions in ${prefix.kv_file}`);
  lines.push(`run it with: predictor --mode static --model_name_or_path ${report.outputDir}`);
  return lines.map((l) => `${l}\n`).join("");
}
