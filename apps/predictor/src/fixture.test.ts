/**
 * The trained fixture qwen2-pystdlib-7m (../shared/fixtures) against the
 * greedy continuations transformers computed for it, in both modes. Its
 * config.json is as transformers 5 saves it (the rotary base under
 * rope_parameters): a reader that misses it generates other text.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { exportModel } from "@oar/export";
import { generate, type CausalLM } from "@oar/generation";
import { sharedFixturesDir } from "@oar/make-tiny-model";
import { loadEagerModel } from "@oar/modeling";
import { loadStaticModel } from "@oar/runtime";

interface Golden {
  readonly max_new_tokens: number;
  readonly eos: readonly number[];
  readonly items: readonly { readonly prompt_ids: readonly number[]; readonly greedy_ids: readonly number[] }[];
}

const fixtures = sharedFixturesDir();
const FIXTURE = fixtures === null ? null : path.join(fixtures, "qwen2-pystdlib-7m");
const SKIP = FIXTURE !== null && fs.existsSync(path.join(FIXTURE, "greedy.json")) ? false : "../shared/fixtures/qwen2-pystdlib-7m is absent beside this clone";

let root: string;
let golden: Golden;

before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "oar-fixture-"));
  if (FIXTURE !== null && SKIP === false) golden = JSON.parse(fs.readFileSync(path.join(FIXTURE, "greedy.json"), "utf8")) as Golden;
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** Each golden prompt's greedy continuation from `model`, then disposes of it. */
async function continuations(model: CausalLM): Promise<number[][]> {
  try {
    const out: number[][] = [];
    for (const item of golden.items) {
      const r = await generate(model, { tokens: item.prompt_ids }, { decodeStrategy: "greedy_search", maxNewTokens: golden.max_new_tokens, eosTokenIds: golden.eos });
      out.push([...r.tokens]);
    }
    return out;
  } finally {
    await model.dispose();
  }
}

function assertGolden(got: number[][], mode: string): void {
  golden.items.forEach((item, i) => assert.deepEqual(got[i], item.greedy_ids, `${mode}, prompt ${i}: transformers' greedy ids`));
}

describe("qwen2-pystdlib-7m reproduces transformers' greedy continuations", { skip: SKIP }, () => {
  it("in dynamic mode, from the directory as stored (transformers 5 config, bf16 weights)", async () => {
    assertGolden(await continuations(await loadEagerModel(FIXTURE!, { storage: { format: "f32" } })), "dynamic");
  });

  it("in static mode, exported with --inference_model", async () => {
    const out = path.join(root, "inference");
    await exportModel({ modelDir: FIXTURE!, outputDir: out, inferenceModel: true });
    assertGolden(await continuations(await loadStaticModel(out, { positions: 128 })), "static");
  });

  it("with the same weights under a transformers 4 config (top-level rope_theta, torch_dtype)", async () => {
    const dir = path.join(root, "v4");
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(FIXTURE!)) fs.symlinkSync(path.join(FIXTURE!, f), path.join(dir, f));
    const config = JSON.parse(fs.readFileSync(path.join(FIXTURE!, "config.json"), "utf8")) as Record<string, unknown>;
    const { rope_parameters: rope, dtype, layer_types: _, ...rest } = config as { rope_parameters: { rope_theta: number }; dtype: string; layer_types: unknown };
    fs.rmSync(path.join(dir, "config.json"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...rest, rope_theta: rope.rope_theta, rope_scaling: null, torch_dtype: dtype }));
    assertGolden(await continuations(await loadEagerModel(dir, { storage: { format: "f32" } })), "dynamic, transformers 4 config");
  });
});
