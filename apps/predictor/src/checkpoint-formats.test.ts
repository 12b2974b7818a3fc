/**
 * End to end: the real `predictor` bin on hostile weight files. Each must
 * end the program with one line naming the file, exit status 1, no output
 * file, and no trace of its payload (the marker file it would write).
 * Every hostile file is refused by @oar/tensor's tests; these check that the
 * program reports it as a person's mistake, not a crash.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runBin } from "@oar/cli/testing";
import { GOLDENS } from "@oar/tensor/testing";
import { PREDICTOR_BIN, tinyInstructModel } from "./cli-testing.js";

let root: string;
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-hostile-"));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Hostile file -> the name it is given in the model directory, and what the one line must say. */
const CASES: readonly [string, string, RegExp][] = [
  ["reduce-os-system.bin", "pytorch_model.bin", /refuses the global posix\.system/],
  ["exec-builtins.pdparams", "model_state.pdparams", /refuses the global builtins\.exec/],
  ["inst-subprocess.pdparams", "model_state.pdparams", /refuses the global subprocess\.Popen/],
  ["deflate-bomb.bin", "pytorch_model.bin", /is compressed \(method 8\)/],
];

describe("predictor refuses hostile weight files", () => {
  for (const [hostile, name, message] of CASES) {
    it(`${hostile} as ${name}: one line, status 1, no output file, the payload never ran`, async () => {
      const work = fs.mkdtempSync(path.join(root, "run-"));
      const model = path.join(work, "model");
      fs.mkdirSync(model);
      const tiny = tinyInstructModel();
      for (const f of fs.readdirSync(tiny).filter((f) => f.endsWith(".json"))) fs.copyFileSync(path.join(tiny, f), path.join(model, f));
      fs.copyFileSync(path.join(GOLDENS, "hostile", hostile), path.join(model, name));
      const marker = path.join(work, "marker");
      const output = path.join(work, "out.json");
      const r = await runBin(PREDICTOR_BIN, ["--model_name_or_path", model, "--output_file", output, "--max_length", "4"], { cwd: work, env: { OAR_PICKLE_MARKER: marker } });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`predictor: ${path.join(model, name)}: `), r.stderr);
      assert.match(r.stderr, message);
      assert.ok(!fs.existsSync(output), "no output file");
      assert.deepEqual(fs.readdirSync(work).sort(), ["model"], "no marker, nothing else written");
    });
  }
});
