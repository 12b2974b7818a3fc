/**
 * make-tiny-model: writes a deterministic random Hugging Face checkpoint,
 * or converts a llama2.c model file (--from_llama2c).
 *
 *   make-tiny-model --arch qwen2 --preset tiny --dtype f32 --instruct --seed 0 --output_path DIR [--overwrite]
 *   make-tiny-model --from_llama2c stories260K.bin --output_path DIR [--overwrite]
 */
import { failer, yargsError } from "@oar/cli";
import yargs from "yargs";
import { convertLlama2c } from "./llama2c.js";
import { makeTinyModel } from "./make.js";
import { ARCHS, type Arch, PRESETS, type Preset, WEIGHT_DTYPES, type WeightDtype } from "./spec.js";

const fail: (error: unknown) => never = failer("make-tiny-model");

const argv = yargs(process.argv.slice(2))
  .scriptName("make-tiny-model")
  .usage("$0 --output_path DIR [options]\n\nWrites a Hugging Face checkpoint directory with deterministic random weights.")
  .example("$0 --arch qwen2 --preset tiny --dtype f32 --instruct --seed 0 --output_path ./tiny-qwen2", "a 39 MB Qwen2 chat model for tests")
  .example("$0 --from_llama2c stories260K.bin --output_path ./stories260K", "convert a llama2.c model file")
  .option("output_path", { type: "string", describe: "checkpoint directory to write (created if missing)" })
  .option("arch", { type: "string", choices: ARCHS, default: "qwen2", describe: "architecture" })
  .option("preset", { type: "string", choices: PRESETS, default: "tiny", describe: "model shapes" })
  .option("dtype", { type: "string", choices: WEIGHT_DTYPES, default: "f32", describe: "weight dtype" })
  .option("instruct", { type: "boolean", default: false, describe: "Qwen2-Instruct chat template, <|im_end|> as eos" })
  .option("seed", { type: "number", default: 0, describe: "random seed (same seed, same bytes)" })
  .option("tie_word_embeddings", { type: "boolean", describe: "share lm_head with the embedding (default: yes for qwen2, no for llama)" })
  .option("from_llama2c", { type: "string", describe: "convert this llama2.c legacy model file instead of generating weights" })
  .option("overwrite", { type: "boolean", default: false, describe: "allow a non-empty output directory" })
  .check((a) => {
    if (typeof a["output_path"] !== "string" || a["output_path"] === "") throw new Error("--output_path DIR is required");
    if (typeof a["seed"] !== "number" || !Number.isSafeInteger(a["seed"]) || a["seed"] < 0) {
      throw new Error(`--seed must be a non-negative integer, got ${String(a["seed"])}`);
    }
    if (a["from_llama2c"] !== undefined) {
      const generating = ["arch", "preset", "dtype", "instruct", "seed", "tie_word_embeddings"].filter((f) =>
        process.argv.some((arg) => arg === `--${f}` || arg.startsWith(`--${f}=`) || arg === `--no-${f}`),
      );
      if (generating.length > 0) throw new Error(`--from_llama2c converts a file as it is; it cannot be combined with --${generating.join(", --")}`);
    }
    return true;
  })
  .strict()
  .fail((message, error) => fail(yargsError(message, error)))
  .version(false)
  .help()
  .wrap(null)
  .parseSync();

const outDir = argv["output_path"] as string;
try {
  if (typeof argv["from_llama2c"] === "string") {
    convertLlama2c(argv["from_llama2c"], outDir, { overwrite: argv["overwrite"] as boolean });
  } else {
    makeTinyModel({
      outDir,
      arch: argv["arch"] as Arch,
      preset: argv["preset"] as Preset,
      dtype: argv["dtype"] as WeightDtype,
      instruct: argv["instruct"] as boolean,
      seed: argv["seed"] as number,
      overwrite: argv["overwrite"] as boolean,
      ...(typeof argv["tie_word_embeddings"] === "boolean" ? { tieWordEmbeddings: argv["tie_word_embeddings"] } : {}),
    });
  }
} catch (e) {
  fail(e);
}
process.stdout.write(`make-tiny-model: wrote ${outDir}\n`);
