import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { convertLlama2c } from "./llama2c.js";
import { GOLDENS, type Golden, expected } from "@oar/tensor/testing";
import { makeTinyModel, type MakeTinyModelOptions } from "./make.js";
import type { Arch, WeightDtype } from "./spec.js";

/**
 * Checkpoints made once and shared by every test file and process of a run:
 * made in a private directory, then renamed into place, so two processes
 * making the same one at once never see it half-written.
 */
function cached(name: string, make: (dir: string) => void): string {
  const root = process.env["OAR_MODEL_CACHE"] ?? path.join(os.tmpdir(), "oar-model-cache");
  const key = `${name}-${generatorHash()}`;
  const dir = path.join(root, key);
  if (fs.existsSync(path.join(dir, ".complete"))) return dir;
  fs.mkdirSync(root, { recursive: true });
  const work = fs.mkdtempSync(path.join(root, `.${key}-`));
  try {
    make(work);
    fs.writeFileSync(path.join(work, ".complete"), "");
    try {
      fs.renameSync(work, dir);
    } catch {
      // Another process finished the same checkpoint first; either copy is right.
      if (!fs.existsSync(path.join(dir, ".complete"))) throw new Error(`cannot place the cached checkpoint at ${dir}`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

let hash: string | null = null;

/** A digest of this package's compiled code: a change to how checkpoints are made never reuses old ones. */
function generatorHash(): string {
  if (hash === null) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const h = createHash("sha256");
    for (const f of fs.readdirSync(here).filter((f) => f.endsWith(".js") && !f.endsWith(".test.js")).sort()) {
      h.update(f).update(fs.readFileSync(path.join(here, f)));
    }
    hash = h.digest("hex").slice(0, 12);
  }
  return hash;
}

/** A tiny-model checkpoint for these options, made on first use and reused after (by tests, examples and benchmarks). */
export function cachedTinyModel(options: Omit<MakeTinyModelOptions, "outDir" | "overwrite">): string {
  const key = [
    options.arch,
    options.preset,
    options.dtype,
    options.instruct === true ? "instruct" : "base",
    `seed${options.seed ?? 0}`,
    options.tieWordEmbeddings === undefined ? "" : options.tieWordEmbeddings ? "tied" : "untied",
  ]
    .filter((s) => s !== "")
    .join("-");
  return cached(key, (dir) => makeTinyModel({ ...options, outDir: dir, overwrite: true }));
}

/** ../shared/fixtures beside the repository, or null when this clone has none beside it. */
export function sharedFixturesDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // tools/make-tiny-model/dist -> the repository root is three levels up.
  const dir = process.env["OAR_FIXTURES"] ?? path.resolve(here, "../../../../shared/fixtures");
  return fs.existsSync(dir) ? dir : null;
}

/** stories260K (llama2.c) converted to a Hugging Face Llama directory, with llama2.c's greedy output from BOS. */
export interface Stories260K {
  readonly dir: string;
  readonly promptIds: readonly number[];
  readonly greedyNewIds: readonly number[];
}

/** The stories260K fixture, converted once per machine; null (with the reason) when ../shared/fixtures is absent. */
export function stories260K(): Stories260K | { readonly missing: string } {
  const fixtures = sharedFixturesDir();
  const bin = fixtures === null ? null : path.join(fixtures, "stories260K", "stories260K.bin");
  if (bin === null || !fs.existsSync(bin)) {
    return { missing: "../shared/fixtures/stories260K is absent beside this clone; fixture tests are skipped" };
  }
  const dir = cached("stories260K", (out) => convertLlama2c(bin, out, { overwrite: true }));
  const known = JSON.parse(fs.readFileSync(path.join(path.dirname(bin), "greedy_from_bos.json"), "utf8")) as {
    prompt_ids: number[];
    greedy_new_ids: number[];
  };
  return { dir, promptIds: known.prompt_ids, greedyNewIds: known.greedy_new_ids };
}

/** A checkpoint-format golden of testing/checkpoint-formats, ready to load, and the original it was written from. */
export interface FormatGolden {
  /** config.json and generation_config.json of the original (the golden's own config.json over them), and the golden's weight files. */
  readonly dir: string;
  /** The safetensors original, made by makeTinyModel with the options the golden was written from. */
  readonly original: string;
  readonly golden: Golden;
}

/**
 * The golden `name` (e.g. "qwen2-pdparams") as a model directory. Its
 * original is made again here; the sha256 expected.json recorded of the
 * original's model.safetensors must match, or the golden no longer holds
 * this generator's weights.
 */
export function formatGolden(name: string): FormatGolden {
  const all = expected();
  const golden = all.goldens[name];
  if (golden === undefined) throw new Error(`${GOLDENS}/expected.json has no golden named "${name}"`);
  const [arch, dtype] = golden.original.split("-") as [Arch, WeightDtype];
  const original = cachedTinyModel({ arch, preset: "micro", dtype });
  const want = all.originals[golden.original]!.model_safetensors_sha256;
  const got = createHash("sha256").update(fs.readFileSync(path.join(original, "model.safetensors"))).digest("hex");
  if (got !== want) {
    throw new Error(`make-tiny-model's micro ${golden.original} checkpoint changed (sha256 ${got}, the goldens were written from ${want}); run testing/checkpoint-formats/make_goldens.py again`);
  }
  const files = createHash("sha256");
  for (const f of golden.files) files.update(f).update(fs.readFileSync(path.join(GOLDENS, name, f)));
  const dir = cached(`golden-${name}-${files.digest("hex").slice(0, 12)}`, (out) => {
    for (const f of ["config.json", "generation_config.json"]) fs.copyFileSync(path.join(original, f), path.join(out, f));
    for (const f of golden.files) fs.copyFileSync(path.join(GOLDENS, name, f), path.join(out, f));
  });
  return { dir, original, golden };
}
