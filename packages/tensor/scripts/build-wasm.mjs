// Assembles src/kernels/kernels.wat into dist/kernels/kernels.wasm with the
// wabt npm package, so that no binary is committed and the runtime needs no
// assembler. Runs after `tsc -p .` (see package.json's build script).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import wabtInit from "wabt";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "kernels", "kernels.wat");
const target = join(root, "dist", "kernels", "kernels.wasm");

function fail(message) {
  // wabt's messages name the line; a stack trace would only add its minified source.
  console.error(`build-wasm: ${message}`);
  process.exit(1);
}

const wabt = await wabtInit();
let binary;
try {
  const module = wabt.parseWat(source, readFileSync(source, "utf8"), { simd: true, threads: true });
  try {
    binary = module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
// wabt's own validator rejects shared memories whatever the features, so the
// engine that will run the module validates it (and says why it does not).
try {
  new WebAssembly.Module(binary);
} catch (error) {
  fail(`${source} does not validate: ${error instanceof Error ? error.message : String(error)}`);
}
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, binary);
console.log(`build-wasm: ${source} -> ${target} (${binary.length} bytes)`);
