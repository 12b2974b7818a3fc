/**
 * The `oar-server` bin as a user runs it: a one-line error for a bad flag, and
 * on SIGTERM a graceful stop: the stream in flight ends with [DONE], new
 * requests are refused, the process exits 0.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { runBin } from "@oar/cli/testing";
import { SERVER_BIN, tinyInstructModel } from "./testing.js";

describe("the oar-server bin", () => {
  it("prints one line and exits 1 for a bad flag", async () => {
    const r = await runBin(SERVER_BIN, ["--model_name_or_path", tinyInstructModel(), "--max_queue", "-1"], { cwd: process.cwd() });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, "oar-server: --max_queue must be an integer in [0, 9007199254740991], got -1\n");
  });

  it("on SIGTERM lets the stream in flight finish, then exits 0", { timeout: 180_000 }, async () => {
    const child = spawn(process.execPath, [SERVER_BIN, "--model_name_or_path", tinyInstructModel(), "--port", "0", "--max_model_len", "128"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    // Listening at once; ready when /health says so (a loaded machine may take a while to load the model).
    const until = Date.now() + 150_000;
    let url = "";
    let ready = false;
    while (Date.now() < until && !ready) {
      url = /"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1] ?? "";
      if (url !== "") ready = (await fetch(`${url}/health`)).status === 200;
      if (!ready) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(ready, `the server did not become ready; its log:\n${out}`);
    const response = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Once", max_tokens: 60, ignore_eos: true, stream: true }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const started = Date.now();
    child.kill("SIGTERM");
    let body = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) body += Buffer.from(r.value).toString("utf8");
    assert.match(body, /"finish_reason":"length"[\s\S]*data: \[DONE\]\n\n$/);
    assert.equal(await exited, 0);
    assert.ok(Date.now() - started < 30_000);
    assert.match(out, /"signal":"SIGTERM"/);
  });
});
