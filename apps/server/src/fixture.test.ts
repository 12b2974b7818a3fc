/**
 * The trained fixture qwen2-pystdlib-7m (../shared/fixtures) served in
 * dynamic mode: /v1/completions on each golden prompt's token ids reproduces
 * the greedy continuation transformers computed (greedy.json), text and
 * token count.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { sharedFixturesDir } from "@oar/make-tiny-model";
import { startTestServer, type TestServer } from "./testing.js";

interface Golden {
  readonly max_new_tokens: number;
  readonly eos: readonly number[];
  readonly items: readonly { readonly prompt_ids: readonly number[]; readonly greedy_ids: readonly number[]; readonly text: string }[];
}

const fixtures = sharedFixturesDir();
const FIXTURE = fixtures === null ? null : path.join(fixtures, "qwen2-pystdlib-7m");
const SKIP = FIXTURE !== null && fs.existsSync(path.join(FIXTURE, "greedy.json")) ? false : "../shared/fixtures/qwen2-pystdlib-7m is absent beside this clone";

let t: TestServer;
let golden: Golden;

before(async () => {
  if (SKIP !== false) return;
  golden = JSON.parse(fs.readFileSync(path.join(FIXTURE!, "greedy.json"), "utf8")) as Golden;
  // f32 storage: the goldens were computed in float32 from the bf16 weights.
  t = await startTestServer({ modelDir: FIXTURE!, dtype: "float32", batchSize: 5, maxModelLen: 256 });
});
after(() => t?.stop());

describe("qwen2-pystdlib-7m through /v1/completions", { skip: SKIP }, () => {
  it("reproduces transformers' greedy continuations, all five prompts at once", async () => {
    const results = await Promise.all(
      golden.items.map((item) => t.client.completions.create({ model: "qwen2-pystdlib-7m", prompt: [...item.prompt_ids], max_tokens: golden.max_new_tokens, temperature: 0 })),
    );
    results.forEach((r, i) => {
      const item = golden.items[i]!;
      assert.equal(r.choices[0]!.text, item.text, `prompt ${i}`);
      const stoppedAtEos = item.greedy_ids.length < golden.max_new_tokens;
      assert.equal(r.choices[0]!.finish_reason, stoppedAtEos ? "stop" : "length");
      assert.equal(r.usage!.completion_tokens, item.greedy_ids.length + (stoppedAtEos ? 1 : 0));
      assert.equal(r.usage!.prompt_tokens, item.prompt_ids.length);
    });
  });
});
