import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createProgress, formatDuration, progressStyle } from "./progress.js";

function sink() {
  const out: string[] = [];
  return { out, write: (text: string) => out.push(text), columns: 100 };
}

describe("progress", () => {
  it("prints plain lines at most once a second, and always the last", () => {
    let t = 0;
    const s = sink();
    const p = createProgress({ total: 3, style: "lines", sink: s, now: () => t });
    t = 500;
    p.tokens(10);
    p.itemDone();
    t = 800;
    p.itemDone();
    t = 2000;
    p.tokens(10);
    p.itemDone();
    p.finish();
    assert.deepEqual(s.out, [
      "predictor: 1/3 prompts, 20.0 tokens/s, elapsed 0:01, ETA 0:01\n",
      "predictor: 3/3 prompts, 10.0 tokens/s, elapsed 0:02, ETA 0:00\n",
    ]);
  });

  it("draws a bar in place, clears it around other output, and ends its line", () => {
    let t = 0;
    const s = sink();
    const p = createProgress({ total: 2, style: "bar", sink: s, now: () => t });
    t = 1000;
    p.tokens(5);
    p.itemDone();
    assert.match(s.out.at(-1)!, /^\r\[#+\.+\] 1\/2 prompts, 5\.0 tokens\/s, elapsed 0:01, ETA 0:01\x1b\[K$/);
    const n = s.out.length;
    p.aside(() => s.out.push("RESULT"));
    assert.deepEqual(s.out.slice(n, n + 2), ["\r\x1b[K", "RESULT"]);
    assert.match(s.out.at(-1)!, /^\r\[/);
    p.itemDone();
    p.finish();
    assert.equal(s.out.at(-1), "\n");
  });

  it("chooses a bar on a terminal, lines elsewhere, nothing over streamed text", () => {
    assert.equal(progressStyle({ stderrIsTTY: true, stdoutIsTTY: false, stream: true }), "bar");
    assert.equal(progressStyle({ stderrIsTTY: true, stdoutIsTTY: true, stream: false }), "bar");
    assert.equal(progressStyle({ stderrIsTTY: true, stdoutIsTTY: true, stream: true }), "off");
    assert.equal(progressStyle({ stderrIsTTY: false, stdoutIsTTY: true, stream: true }), "lines");
  });

  it("formats durations", () => {
    assert.equal(formatDuration(5), "0:05");
    assert.equal(formatDuration(125.4), "2:05");
    assert.equal(formatDuration(3725), "1:02:05");
    assert.equal(formatDuration(Number.NaN), "?");
  });
});
