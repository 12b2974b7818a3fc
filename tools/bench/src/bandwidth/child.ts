/**
 * Probes each buffer size given in bytes on the command line, in a process
 * of its own started with --no-liftoff (see ./probe.ts), and prints the
 * results as one JSON array: `node --no-liftoff dist/bandwidth/child.js 268435456 ...`.
 */
import { type Bandwidth, measureBandwidth } from "./probe.js";

const sizes = process.argv.slice(2).map(Number);
if (sizes.length === 0 || sizes.some((s) => !Number.isSafeInteger(s) || s <= 0)) {
  process.stderr.write("usage: node --no-liftoff dist/bandwidth/child.js BYTES... (run by the bench)\n");
  process.exit(2);
}
const out: Bandwidth[] = [];
for (const bytes of sizes) out.push(await measureBandwidth({ bytes }));
process.stdout.write(`${JSON.stringify(out)}\n`);
