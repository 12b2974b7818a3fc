/**
 * decode.svg: batch-1 decode tokens/s of every configuration as a bar (the
 * whisker spans the slowest and fastest run), one panel per preset, and each
 * configuration's roofline (bandwidth / its weight bytes per token) as a
 * dashed mark on its row. Plain SVG written here, no dependency.
 */
import { BENCH_PRESETS, type EngineKind } from "../configs.js";
import { type BenchResults, type ConfigurationResult, dramBandwidth } from "../results.js";
import { gbps, rate } from "./format.js";
import { machineLine } from "./markdown.js";

const COLORS: Readonly<Record<EngineKind, string>> = {
  dynamic: "#7f9fd1",
  static: "#1b9e77",
  "transformers.js": "#d95f02",
  "llama.cpp": "#7570b3",
};

const WIDTH = 960;
const LABEL = 250;
const PLOT = 560;
const ROW = 22;
const BAR = 14;

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;
}

/** A round axis maximum at or above `x`. */
function niceMax(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function panel(rows: readonly ConfigurationResult[], title: string, top: number): { svg: string; height: number } {
  const parts: string[] = [];
  const max = niceMax(Math.max(1, ...rows.flatMap((c) => [c.decodeRange?.[1] ?? 0, c.rooflineTokensPerS ?? 0])));
  const x = (v: number): number => LABEL + (v / max) * PLOT;
  const plotTop = top + 26;
  const height = 26 + rows.length * ROW + 28;
  parts.push(text(10, top + 16, title, 'font-weight="bold" font-size="14"'));
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = (max * i) / ticks;
    const tx = x(v);
    parts.push(`<line x1="${tx}" y1="${plotTop - 4}" x2="${tx}" y2="${plotTop + rows.length * ROW}" stroke="#ddd"/>`);
    parts.push(text(tx, plotTop + rows.length * ROW + 14, Number.isInteger(v) ? String(v) : v.toFixed(1), 'text-anchor="middle" fill="#555"'));
  }
  parts.push(text(LABEL + PLOT / 2, plotTop + rows.length * ROW + 27, "decode tokens/s, batch 1", 'text-anchor="middle" fill="#555"'));
  rows.forEach((c, i) => {
    const y = plotTop + i * ROW;
    const mid = y + ROW / 2;
    parts.push(text(LABEL - 8, mid + 4, c.id.slice(c.id.indexOf("/") + 1), 'text-anchor="end"'));
    if (c.median === null) {
      parts.push(text(LABEL + 4, mid + 4, c.problem === null ? "not measured" : "not measured (see results.md)", 'fill="#a00"'));
      return;
    }
    const w = Math.max(1, x(c.median.decode) - LABEL);
    parts.push(`<rect x="${LABEL}" y="${(mid - BAR / 2).toFixed(1)}" width="${w.toFixed(1)}" height="${BAR}" fill="${COLORS[c.engine.kind]}"/>`);
    if (c.decodeRange !== null) {
      const [lo, hi] = c.decodeRange.map(x) as [number, number];
      parts.push(`<line x1="${lo.toFixed(1)}" y1="${mid}" x2="${hi.toFixed(1)}" y2="${mid}" stroke="#222"/>`);
    }
    let label = rate(c.median.decode);
    if (c.rooflineTokensPerS !== null) {
      const rx = x(c.rooflineTokensPerS);
      parts.push(`<line x1="${rx.toFixed(1)}" y1="${y + 1}" x2="${rx.toFixed(1)}" y2="${y + ROW - 1}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`);
      label += ` (${((c.rooflineFraction ?? 0) * 100).toFixed(0)}% of ${rate(c.rooflineTokensPerS)})`;
    }
    const end = Math.max(x(c.decodeRange?.[1] ?? c.median.decode), c.rooflineTokensPerS === null ? 0 : x(c.rooflineTokensPerS));
    parts.push(text(end + 6, mid + 4, label, 'fill="#333"'));
  });
  return { svg: parts.join("\n"), height };
}

export function decodeSvg(r: BenchResults): string {
  const parts: string[] = [];
  let y = 8;
  parts.push(text(10, y + 14, "Oar decode speed against transformers.js, llama.cpp and the memory-bandwidth roofline", 'font-weight="bold" font-size="15"'));
  parts.push(text(10, y + 32, machineLine(r), 'fill="#444"'));
  y += 42;
  const legend: [string, string][] = [
    ["Oar dynamic", COLORS.dynamic],
    ["Oar static", COLORS.static],
    ["transformers.js (same graph)", COLORS["transformers.js"]],
    ["llama.cpp (GGUF)", COLORS["llama.cpp"]],
  ];
  let lx = 10;
  for (const [name, color] of legend) {
    parts.push(`<rect x="${lx}" y="${y}" width="12" height="12" fill="${color}"/>`, text(lx + 16, y + 10, name));
    lx += 24 + name.length * 6.6;
  }
  y += 18;
  parts.push(`<line x1="14" y1="${y}" x2="14" y2="${y + 12}" stroke="#000" stroke-width="2" stroke-dasharray="3,2"/>`);
  parts.push(
    text(26, y + 10, `roofline: read bandwidth (${gbps(dramBandwidth(r).bestBytesPerS)} past the caches) / weight bytes read per token; thin line: slowest to fastest run`),
  );
  y += 24;
  for (const preset of BENCH_PRESETS) {
    const rows = r.configurations.filter((c) => c.preset === preset);
    if (rows.length === 0) continue;
    const p = panel(rows, `${preset} (random weights, real shapes)`, y);
    parts.push(p.svg);
    y += p.height + 10;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${y}" fill="#fff"/>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}
