// Assembles src/kernels/kernels.wat with the wabt npm package, so that no
// binary is committed and the runtime needs no assembler. Runs after
// `tsc -p .` (see package.json's build script). Two binaries come out of the
// one source:
//   dist/kernels/kernels-fma.wasm  as written: every multiply-add is
//       f32x4.relaxed_madd (relaxed SIMD), which V8 compiles to one fused
//       multiply-add instruction on x64 CPUs with FMA3 and on arm64;
//   dist/kernels/kernels.wasm  the same with each (f32x4.relaxed_madd a b c)
//       lowered to (f32x4.add c (f32x4.mul a b)): plain 128-bit SIMD, for
//       engines without relaxed SIMD.
// src/kernels/wasm.ts picks one at run time.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import wabtInit from "wabt";
// tsc has built dist/ by now (see package.json)
import { hasRelaxedSimd } from "../dist/kernels/wasm.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src", "kernels", "kernels.wat");
const targets = { fma: join(root, "dist", "kernels", "kernels-fma.wasm"), plain: join(root, "dist", "kernels", "kernels.wasm") };

function fail(message) {
  // wabt's messages name the line; a stack trace would only add its minified source.
  console.error(`build-wasm: ${message}`);
  process.exit(1);
}

/** The end (exclusive) of the parenthesized expression that opens at text[start]. */
function expressionEnd(text, start) {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text.startsWith(";;", i)) i = text.indexOf("\n", i);
    if (i < 0) break;
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) return i + 1;
  }
  fail(`${source}: unbalanced parentheses in the expression at offset ${start}`);
}

/** Every (f32x4.relaxed_madd a b c) written as (f32x4.add c (f32x4.mul a b)); a, b, c are parenthesized. */
function lowerRelaxedMadd(text) {
  const op = "(f32x4.relaxed_madd";
  let out = "";
  let from = 0;
  for (let at = text.indexOf(op); at >= 0; at = text.indexOf(op, from)) {
    const args = [];
    let i = at + op.length;
    for (let n = 0; n < 3; n++) {
      while (/\s/.test(text[i])) i++;
      if (text[i] !== "(") fail(`${source}: f32x4.relaxed_madd at offset ${at} must have 3 parenthesized operands`);
      const end = expressionEnd(text, i);
      args.push(text.slice(i, end));
      i = end;
    }
    while (/\s/.test(text[i])) i++;
    if (text[i] !== ")") fail(`${source}: f32x4.relaxed_madd at offset ${at} has more than 3 operands`);
    // An operand may hold a relaxed_madd of its own.
    const [a, b, c] = args.map(lowerRelaxedMadd);
    out += `${text.slice(from, at)}(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;
    from = i + 1;
  }
  return out + text.slice(from);
}

const wabt = await wabtInit();
const text = readFileSync(source, "utf8");
for (const [variant, wat] of [["fma", text], ["plain", lowerRelaxedMadd(text)]]) {
  let binary;
  try {
    const module = wabt.parseWat(source, wat, { simd: true, threads: true, relaxed_simd: variant === "fma" });
    try {
      binary = module.toBinary({}).buffer;
    } finally {
      module.destroy();
    }
  } catch (error) {
    fail(`${variant}: ${error instanceof Error ? error.message : String(error)}`);
  }
  // wabt's own validator rejects shared memories whatever the features, so the
  // engine validates both (the fma one where it has relaxed SIMD; see wasm.ts).
  if (variant === "plain" || hasRelaxedSimd()) {
    try {
      new WebAssembly.Module(binary);
    } catch (error) {
      fail(`${variant}: ${source} does not validate: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  mkdirSync(dirname(targets[variant]), { recursive: true });
  writeFileSync(targets[variant], binary);
  console.log(`build-wasm: ${source} -> ${targets[variant]} (${binary.length} bytes)`);
}
