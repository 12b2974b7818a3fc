/** Writes a run's results: results.md, results.json, decode.svg and README-section.md. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BenchResults } from "../results.js";
import { resultsMarkdown } from "./markdown.js";
import { readmeSection } from "./readme-section.js";
import { decodeSvg } from "./svg.js";

export function writeOutputs(results: BenchResults, dir: string): { readonly markdown: string; readonly files: readonly string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const markdown = resultsMarkdown(results);
  const files: [string, string][] = [
    ["results.md", markdown],
    ["results.json", `${JSON.stringify(results, null, 2)}\n`],
    ["decode.svg", decodeSvg(results)],
    ["README-section.md", readmeSection(results)],
  ];
  for (const [name, text] of files) fs.writeFileSync(path.join(dir, name), text);
  return { markdown, files: files.map(([name]) => name) };
}
