import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parseDataFile } from "./data-file.js";
import { formatRecord, OutputWriter, readResumePoint } from "./output-file.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-predictor-output-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const prompts = parseDataFile(['{"src": "a"}', '{"src": "中文"}', '{"src": ["q", "r", "s"]}', '{"src": "d"}'].join("\n"), "data");
const record = (i: number) => ({ src: prompts[i]!.src, tgt: "", output: `out ${i}` });

describe("formatRecord", () => {
  it("writes one JSON line with non-ASCII characters unescaped", () => {
    assert.equal(formatRecord({ src: "中文", tgt: "t", output: "答\n" }), '{"src":"中文","tgt":"t","output":"答\\n"}\n');
  });
});

describe("OutputWriter", () => {
  it("writes in input order whatever order results finish in, the file always a prefix", () => {
    const file = path.join(root, "order.json");
    const w = OutputWriter.open(file, null);
    assert.deepEqual(w.put(2, record(2)), []);
    assert.equal(fs.readFileSync(file, "utf8"), "");
    assert.deepEqual(w.put(0, record(0)), [0]);
    assert.equal(fs.readFileSync(file, "utf8"), formatRecord(record(0)));
    assert.deepEqual(w.put(1, record(1)), [1, 2]);
    assert.deepEqual(w.put(3, record(3)), [3]);
    w.close();
    assert.equal(fs.readFileSync(file, "utf8"), [0, 1, 2, 3].map((i) => formatRecord(record(i))).join(""));
  });

  it("empties an old file on a fresh run", () => {
    const file = path.join(root, "fresh.json");
    fs.writeFileSync(file, "old\n");
    OutputWriter.open(file, null).close();
    assert.equal(fs.readFileSync(file, "utf8"), "");
  });
});

describe("readResumePoint", () => {
  it("counts the whole lines of an earlier run and drops a torn last line", () => {
    const file = path.join(root, "resume.json");
    const done = formatRecord(record(0)) + formatRecord(record(1));
    fs.writeFileSync(file, `${done}{"src":"q","tg`);
    const point = readResumePoint(file, prompts);
    assert.deepEqual(point, { done: 2, keepBytes: Buffer.byteLength(done), tornTail: true });
    const w = OutputWriter.open(file, point);
    assert.equal(w.nextIndex, 2);
    w.put(3, record(3));
    w.put(2, record(2));
    w.close();
    assert.equal(fs.readFileSync(file, "utf8"), [0, 1, 2, 3].map((i) => formatRecord(record(i))).join(""));
  });

  it("starts from the beginning when there is no file", () => {
    assert.deepEqual(readResumePoint(path.join(root, "none.json"), prompts), { done: 0, keepBytes: 0, tornTail: false });
  });

  it("refuses a file from another data file", () => {
    const file = path.join(root, "other.json");
    fs.writeFileSync(file, formatRecord(record(0)) + formatRecord({ src: "b", tgt: "", output: "" }));
    assert.throws(() => readResumePoint(file, prompts), /line 2: its "src" is not prompt 2 of the input/);
    fs.writeFileSync(file, "not json\n");
    assert.throws(() => readResumePoint(file, prompts), /line 1: not a predictor result/);
    fs.writeFileSync(file, [0, 1, 2, 3, 3].map((i) => formatRecord(record(i))).join(""));
    assert.throws(() => readResumePoint(file, prompts), /line 5: the output file has more lines than the input has prompts \(4\)/);
  });
});
