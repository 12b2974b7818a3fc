// Builds the page into dist/page with esbuild: app.js (the bundled, minified
// TypeScript with marked and DOMPurify), app.css, index.html and the icon;
// prints each file's size, raw and gzipped.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const source = path.join(root, "src", "page");
const out = path.join(root, "dist", "page");
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: { app: path.join(source, "main.ts"), "app-style": path.join(source, "style.css") },
  outdir: out,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome111", "firefox111", "safari16.4"],
  legalComments: "none",
  logLevel: "warning",
});
fs.renameSync(path.join(out, "app-style.css"), path.join(out, "app.css"));
for (const file of ["index.html", "favicon.svg"]) fs.copyFileSync(path.join(source, file), path.join(out, file));

const sizes = fs.readdirSync(out).sort().map((file) => {
  const bytes = fs.readFileSync(path.join(out, file));
  return { file, bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
});
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
for (const s of sizes) console.log(`webui: ${s.file.padEnd(12)} ${kb(s.bytes).padStart(10)}  gzip ${kb(s.gzip).padStart(9)}`);
console.log(`webui: total ${kb(sizes.reduce((a, s) => a + s.bytes, 0))}, gzip ${kb(sizes.reduce((a, s) => a + s.gzip, 0))}`);
