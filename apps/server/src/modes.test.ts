/**
 * Both modes against the predictor: the tiny Qwen2-Instruct checkpoint served
 * in dynamic mode and exported (fused graph, block attention) and served in
 * static mode give, for the same prompts, the greedy outputs the `predictor`
 * bin writes for that directory; and in static mode 8 concurrent greedy
 * requests equal the same requests one at a time.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runBin } from "@oar/cli/testing";
import { exportModel } from "@oar/export";
import { eventually, metric, PREDICTOR_BIN, startTestServer, tinyInstructModel, type TestServer } from "./testing.js";

const PREDICTOR_BUILT = fs.existsSync(path.resolve(path.dirname(PREDICTOR_BIN), "../dist/main.js"));
const NO_PREDICTOR = PREDICTOR_BUILT ? false : "apps/predictor is not built (npx turbo run build --filter=@oar/predictor)";
const PROMPTS = ["Give three tips for staying healthy.", "解释一下“温故而知新”", "Write a haiku about the sea.", "What is 2 + 2?", "Name a river.", "Say hello.", "目前全世界的经济", "Why is the sky blue?"];
const MAX_TOKENS = 12;

let root: string;
let checkpoint: string;
let inference: string;
let dynamic: TestServer;
let statik: TestServer;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-server-modes-"));
  checkpoint = tinyInstructModel();
  inference = path.join(root, "inference");
  await exportModel({ modelDir: checkpoint, outputDir: inference, inferenceModel: true, blockAttn: true, blockSize: 16 });
  dynamic = await startTestServer({ modelDir: checkpoint, servedModelName: "tiny", batchSize: 4, maxModelLen: 128 });
  statik = await startTestServer({ modelDir: inference, servedModelName: "tiny", batchSize: 4, maxModelLen: 128 });
});
after(async () => {
  await dynamic?.stop();
  await statik?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function answer(t: TestServer, content: string): Promise<string> {
  const r = await t.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content }], max_tokens: MAX_TOKENS, temperature: 0 });
  return r.choices[0]!.message.content ?? "";
}

/** The predictor's greedy outputs for PROMPTS from `dir`. */
async function predictorOutputs(dir: string, mode: "dynamic" | "static"): Promise<string[]> {
  const data = path.join(root, `${mode}.jsonl`);
  const out = path.join(root, `${mode}-out.json`);
  fs.writeFileSync(data, PROMPTS.map((src) => JSON.stringify({ src })).join("\n") + "\n");
  const r = await runBin(PREDICTOR_BIN, ["--model_name_or_path", dir, "--mode", mode, "--data_file", data, "--output_file", out, "--decode_strategy", "greedy_search", "--max_length", String(MAX_TOKENS), "--batch_size", "3"], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  return fs
    .readFileSync(out, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => (JSON.parse(l) as { output: string }).output);
}

describe("oar-server in both modes", () => {
  it("static mode serves the inference directory with the graph's block attention", async () => {
    const card = (await statik.client.models.list()).data[0] as unknown as { max_model_len: number };
    assert.equal(card.max_model_len, 128);
    assert.equal(statik.server.oar.options.modelDir, inference);
  });

  it("greedy outputs equal the predictor's on the same prompts, in dynamic and static mode", { skip: NO_PREDICTOR }, async () => {
    const served = { dynamic: [] as string[], static: [] as string[] };
    for (const p of PROMPTS) served.dynamic.push(await answer(dynamic, p));
    for (const p of PROMPTS) served.static.push(await answer(statik, p));
    assert.deepEqual(served.dynamic, await predictorOutputs(checkpoint, "dynamic"));
    assert.deepEqual(served.static, await predictorOutputs(inference, "static"));
  });

  it("static mode: 8 concurrent greedy requests equal the same requests one at a time, bit for bit", async () => {
    const alone: string[] = [];
    for (const p of PROMPTS) alone.push(await answer(statik, p));
    assert.deepEqual(await Promise.all(PROMPTS.map((p) => answer(statik, p))), alone);
  });

  it("static mode: a disconnected stream frees its slot and blocks", async () => {
    const c = new AbortController();
    const response = await fetch(`${statik.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "Tell me a story", max_tokens: 100, ignore_eos: true, stream: true }),
      signal: c.signal,
    });
    await response.body!.getReader().read();
    c.abort();
    await eventually("the request is freed", async () => (await metric(statik.url, "oar:num_requests_running")) === 0);
    assert.equal(await metric(statik.url, "oar:kv_cache_usage_perc"), 0);
  });
});
