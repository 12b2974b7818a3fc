/**
 * What guards the server: the API key, the queue limit (429 with
 * Retry-After), /health while the model loads, and the options' checks.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseServerArgs } from "./flags.js";
import { resolveOptions } from "./options.js";
import { createServer } from "./server.js";
import { eventually, metric, post, startTestServer, tinyInstructModel, type TestServer } from "./testing.js";

// One slot, one place in the queue, and a key: every guard at once.
let t: TestServer;
const KEY = { authorization: "Bearer sesame" };
before(async () => {
  t = await startTestServer({ modelDir: tinyInstructModel(), servedModelName: "tiny", apiKey: "sesame", batchSize: 1, maxQueue: 1, maxModelLen: 128 });
});
after(() => t.stop());

describe("oar-server's guards", () => {
  it("with an API key, /v1 and the tokenizer routes need it (401 otherwise); /health and /metrics do not", async () => {
    const ask = { model: "tiny", prompt: "hi", max_tokens: 2 };
    for (const headers of [{} as Record<string, string>, { authorization: "Bearer nope" }, { authorization: "Basic sesame" }, { authorization: "Bearer sesame2" }]) {
      const r = await post(`${t.url}/v1/completions`, ask, headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.deepEqual(Object.keys(r.json["error"] as object).sort(), ["code", "message", "param", "type"]);
      assert.equal((r.json["error"] as Record<string, unknown>)["code"], "invalid_api_key");
    }
    assert.equal((await post(`${t.url}/tokenize`, { prompt: "hi" })).status, 401);
    assert.equal((await fetch(`${t.url}/v1/models`)).status, 401);
    assert.equal((await post(`${t.url}/v1/completions`, ask, { authorization: "Bearer sesame" })).status, 200);
    assert.equal((await t.client.completions.create(ask)).choices.length, 1, "the official client sends the key");
    assert.equal((await fetch(`${t.url}/health`)).status, 200);
    assert.equal((await fetch(`${t.url}/metrics`)).status, 200);
  });

  it("a full queue answers 429 with Retry-After, and the queue drains", async () => {
    const long = (signal: AbortSignal) =>
      fetch(`${t.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json", ...KEY }, body: JSON.stringify({ prompt: "a", max_tokens: 100, ignore_eos: true }), signal }).catch(() => undefined);
    const controllers = [new AbortController(), new AbortController()];
    const running = controllers.map((c) => long(c.signal));
    await eventually("one runs and one waits", async () => (await metric(t.url, "oar:num_requests_running")) === 1 && (await metric(t.url, "oar:num_requests_waiting")) === 1);
    const refused = await post(`${t.url}/v1/completions`, { prompt: "b", max_tokens: 1 }, KEY);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal((refused.json["error"] as Record<string, unknown>)["code"], "rate_limit_exceeded");
    const two = await post(`${t.url}/v1/completions`, { prompt: "b", max_tokens: 1, n: 2 }, KEY);
    assert.equal(two.status, 429, "n choices count against the queue");
    for (const c of controllers) c.abort();
    await Promise.all(running);
    await eventually("the queue drains", async () => (await metric(t.url, "oar:num_requests_running")) + (await metric(t.url, "oar:num_requests_waiting")) === 0);
    assert.equal((await post(`${t.url}/v1/completions`, { prompt: "b", max_tokens: 1 }, KEY)).status, 200);
  });

  it("/health is 503 while the model loads, and generation waits for it with 503", async () => {
    const server = createServer({ modelDir: tinyInstructModel(), log: false, maxModelLen: 64 });
    try {
      const health = await server.inject({ method: "GET", url: "/health" });
      assert.deepEqual([health.statusCode, health.json()], [503, { status: "loading" }]);
      const early = await server.inject({ method: "POST", url: "/v1/completions", payload: { prompt: "a" } });
      assert.equal(early.statusCode, 503);
      assert.equal(early.json().error.type, "service_unavailable");
      await server.oar.loaded;
      assert.equal((await server.inject({ method: "GET", url: "/health" })).statusCode, 200);
    } finally {
      await server.oar.shutdown();
    }
  });

  it("options and flags are checked with one line naming the flag", async () => {
    const model = tinyInstructModel();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oar-server-options-"));
    try {
      const cases: [string[], RegExp][] = [
        [[], /--model_name_or_path DIR is required/],
        [["--model_name_or_path", path.join(dir, "missing")], /--model_name_or_path .*missing: no such directory/],
        [["--model_name_or_path", model, "--port", "70000"], /--port must be an integer in \[0, 65535\], got 70000/],
        [["--model_name_or_path", model, "--batch_size", "0"], /--batch_size must be an integer in \[1, 1024\], got 0/],
        [["--model_name_or_path", model, "--block_size", "16"], /--block_size applies to block attention; add --block_attn/],
        [["--model_name_or_path", model, "--chat_template", path.join(dir, "none.jinja")], /--chat_template .*: cannot read the template: no such file/],
        [["--model_name_or_path", model, "--device", "gpu"], /--device gpu: dynamic mode runs on the CPU/],
        [["--model_name_or_path", model, "--mode", "fast"], /Invalid values:[\s\S]*mode/],
        [["--model_name_or_path", model, "--no_such_flag", "1"], /Unknown argument/],
      ];
      for (const [args, message] of cases) assert.throws(() => resolveOptions(parseServerArgs(args)), message, args.join(" "));
      const options = resolveOptions(parseServerArgs(["--model-name-or-path", model, "--served_model_name", "m"], { OAR_API_KEY: "k" }));
      assert.deepEqual([options.host, options.port, options.batchSize, options.apiKey, options.servedModelName, options.maxQueue], ["127.0.0.1", 8011, 8, "k", "m", 256]);
      // A mistake only the model can reveal fails loading, with the flag named.
      const server = createServer({ modelDir: model, maxModelLen: 1_000_000, log: false });
      await assert.rejects(server.oar.loaded, /--max_model_len 1000000: the model holds \d+ positions/);
      await server.oar.shutdown();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
