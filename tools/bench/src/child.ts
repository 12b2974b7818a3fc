/**
 * One measurement of one configuration, in a process of its own (so its
 * peak resident memory is its own): `node dist/child.js '<ChildSpec JSON>'`.
 * Prints the Sample on a line starting with SAMPLE_MARKER; anything else the
 * engines print (their logs) goes around it.
 */
import { measure } from "./measure.js";
import { type ChildSpec, SAMPLE_MARKER } from "./protocol.js";

const arg = process.argv[2];
if (arg === undefined) {
  process.stderr.write("usage: node dist/child.js '<ChildSpec JSON>' (run by the bench's main process)\n");
  process.exit(2);
}
const sample = await measure(JSON.parse(arg) as ChildSpec);
process.stdout.write(`\n${SAMPLE_MARKER}${JSON.stringify(sample)}\n`);
