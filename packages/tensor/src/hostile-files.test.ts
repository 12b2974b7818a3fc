import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { openCheckpoint } from "./checkpoint.js";
import { GOLDENS, expected } from "./testing/goldens.js";

/*
 * The hostile files of testing/checkpoint-formats/hostile, written by its
 * make_goldens.py. Each carrying a payload was checked there to run it when
 * Python's pickle.load or torch.load(weights_only=False) reads it (the
 * payload creates the file named by $OAR_PICKLE_MARKER). Oar must refuse
 * each with one line naming the file and what is wrong, and the marker must
 * stay absent.
 */
export const HOSTILE_FILES: readonly { readonly file: string; readonly attack: string; readonly error: RegExp }[] = [
  { file: "reduce-os-system.bin", attack: "code execution: __reduce__ to os.system", error: /reduce-os-system\/data\.pkl: refuses the global posix\.system/ },
  { file: "exec-builtins.pdparams", attack: "code execution: builtins.exec by STACK_GLOBAL", error: /refuses the global builtins\.exec/ },
  { file: "inst-subprocess.pdparams", attack: "code execution: INST subprocess.Popen", error: /refuses the global subprocess\.Popen/ },
  { file: "build-on-class.bin", attack: "BUILD setting attributes on a class", error: /refuses BUILD on the global torch\.FloatStorage/ },
  { file: "storage-offset-past-end.bin", attack: "a view past the end of its storage", error: /tensor "w": storage offset 1000, shape \[4\] and strides \[1\] reach element 1003, past the end of its 4-element storage/ },
  { file: "truncated.bin", attack: "a truncated zip", error: /no zip end-of-central-directory record: not a complete zip archive \(truncated\?\)/ },
  { file: "declared-size-1tib.bin", attack: "a declared size of 1 TiB", error: /zip entry "declared-size-1tib\/data\/0": zip64 size or offset 1099511627776 is larger than the file/ },
  { file: "deflate-bomb.bin", attack: "a deflated storage (64 MiB of zeros)", error: /zip entry "deflate-bomb\/data\/0" is compressed \(method 8\)/ },
  { file: "recursive.pdparams", attack: "a list that contains itself", error: /holds a list that contains itself \(a recursive structure\)/ },
  { file: "deep-nesting.pdparams", attack: "lists nested 10,000 deep", error: /nests containers deeper than 32 levels/ },
  { file: "byteorder-big.bin", attack: "big-endian storages", error: /byteorder-big\/byteorder says "big": the tensors are not little-endian/ },
  { file: "legacy-format.bin", attack: "the pre-1.6 torch.save format", error: /a legacy torch\.save file \(PyTorch before 1\.6, or _use_new_zipfile_serialization=False\), which Oar does not read/ },
];

const HOSTILE = path.join(GOLDENS, "hostile");

let dir: string;
let marker: string;
let saved: string | undefined;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-hostile-"));
  marker = path.join(dir, "marker");
  saved = process.env["OAR_PICKLE_MARKER"];
  process.env["OAR_PICKLE_MARKER"] = marker;
});
after(() => {
  if (saved === undefined) delete process.env["OAR_PICKLE_MARKER"];
  else process.env["OAR_PICKLE_MARKER"] = saved;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("hostile checkpoint files", () => {
  it("the table covers every file of the folder, and the payloads are live (Python runs them)", () => {
    const files = fs.readdirSync(HOSTILE).sort();
    assert.deepEqual(files, HOSTILE_FILES.map((h) => h.file).sort());
    assert.ok(files.length >= 8);
    const live = expected().hostile.filter((h) => h.python_runs_payload).map((h) => h.file);
    assert.deepEqual(live.sort(), ["exec-builtins.pdparams", "inst-subprocess.pdparams", "reduce-os-system.bin"]);
  });

  for (const h of HOSTILE_FILES) {
    it(`refuses ${h.file} (${h.attack}) with one line, running nothing`, () => {
      const file = path.join(HOSTILE, h.file);
      assert.throws(() => openCheckpoint(file), (e: Error) => {
        assert.match(e.message, h.error);
        assert.ok(e.message.startsWith(`${file}: `), `names the file: ${e.message}`);
        assert.ok(!e.message.includes("\n"), "one line");
        assert.ok(!(e instanceof TypeError || e instanceof RangeError), `a refusal, not a crash: ${e.name}`);
        return true;
      });
      assert.ok(!fs.existsSync(marker), "the payload did not run");
    });
  }
});
