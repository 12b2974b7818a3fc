/**
 * make-adapter: writes a deterministic random LoRA or prefix-tuning adapter
 * for a checkpoint, in PEFT's or PaddleNLP's format.
 *
 *   make-adapter --model_name_or_path DIR --output_path DIR --type lora --format peft [--rank 8 --lora_alpha 16 --target_modules q_proj,v_proj]
 *   make-adapter --model_name_or_path DIR --output_path DIR --type prefix --format paddle [--num_prefix_tokens 8 --prefix_projection]
 */
import { failer, yargsError } from "@oar/cli";
import yargs from "yargs";
import { ADAPTER_DTYPES, FORMATS, LORA_TARGETS, makeLora, makePrefix, type AdapterFormatName, type LoraTarget } from "./make.js";

const fail: (error: unknown) => never = failer("make-adapter");

/** Whether the command line names `flag` itself (not just its default). */
function given(flag: string): boolean {
  return process.argv.some((arg) => arg === `--${flag}` || arg.startsWith(`--${flag}=`) || arg === `--no-${flag}`);
}

const LORA_FLAGS = ["rank", "lora_alpha", "rslora", "target_modules", "zero", "shards"];
const PREFIX_FLAGS = ["num_prefix_tokens", "prefix_projection", "prefix_projection_hidden_size", "pre_caches", "encoder_weights"];
const PADDLE_FLAGS = ["shards", "pre_caches", "encoder_weights"];

const argv = yargs(process.argv.slice(2))
  .scriptName("make-adapter")
  .usage("$0 --model_name_or_path DIR --output_path DIR --type lora|prefix --format peft|paddle [options]\n\nWrites a random adapter for the checkpoint: the same seed gives the same values in both formats.")
  .example("$0 --model_name_or_path ./tiny-qwen2 --output_path ./lora-peft --type lora --format peft", "LoRA on every projection, PEFT layout")
  .example("$0 --model_name_or_path ./tiny-qwen2 --output_path ./lora-paddle --type lora --format paddle", "the same adapter in PaddleNLP's layout")
  .example("$0 --model_name_or_path ./tiny-qwen2 --output_path ./prefix --type prefix --format paddle --prefix_projection", "a PaddleNLP prefix with its projecting encoder and pre_caches.npy")
  .option("model_name_or_path", { type: "string", describe: "checkpoint directory the adapter is for (its config.json)" })
  .option("output_path", { type: "string", describe: "adapter directory to write (created if missing)" })
  .option("type", { type: "string", choices: ["lora", "prefix"], default: "lora", describe: "adapter kind" })
  .option("format", { type: "string", choices: FORMATS, default: "peft", describe: "PEFT (adapter_config.json) or PaddleNLP (lora_config.json / prefix_config.json)" })
  .option("seed", { type: "number", default: 0, describe: "random seed" })
  .option("std", { type: "number", default: 1, describe: "multiplies every random value" })
  .option("dtype", { type: "string", choices: ADAPTER_DTYPES, default: "f32", describe: "tensor element type" })
  .option("overwrite", { type: "boolean", default: false, describe: "replace the adapter files in a non-empty directory" })
  .option("rank", { type: "number", default: 8, describe: "LoRA rank r" })
  .option("lora_alpha", { type: "number", describe: "LoRA alpha (default 2 * rank)" })
  .option("rslora", { type: "boolean", default: false, describe: "rank-stabilized scaling, alpha / sqrt(r)" })
  .option("target_modules", { type: "string", default: LORA_TARGETS.join(","), describe: "comma-separated projections to adapt" })
  .option("zero", { type: "boolean", default: false, describe: "lora_B all zero: an adapter that changes nothing" })
  .option("shards", { type: "number", default: 1, describe: "PaddleNLP LoRA: split the weights into this many files with an index" })
  .option("num_prefix_tokens", { type: "number", default: 8, describe: "prefix length" })
  .option("prefix_projection", { type: "boolean", default: false, describe: "generate PaddleNLP's projecting encoder (Embedding, Linear, Tanh, Linear) and use its output" })
  .option("prefix_projection_hidden_size", { type: "number", default: 64, describe: "hidden size of that encoder" })
  .option("pre_caches", { type: "boolean", default: true, describe: "PaddleNLP prefix: write pre_caches.npy" })
  .option("encoder_weights", { type: "boolean", default: true, describe: "PaddleNLP prefix: write the encoder's weights" })
  .check((a) => {
    for (const f of ["model_name_or_path", "output_path"]) {
      if (typeof a[f] !== "string" || a[f] === "") throw new Error(`--${f} DIR is required`);
    }
    const type = a["type"];
    const wrong = (type === "lora" ? PREFIX_FLAGS : LORA_FLAGS).filter(given);
    if (wrong.length > 0) throw new Error(`--${wrong.join(", --")} ${wrong.length > 1 ? "do" : "does"} not apply to --type ${String(type)}`);
    if (a["format"] === "peft") {
      const paddle = PADDLE_FLAGS.filter(given);
      if (paddle.length > 0) throw new Error(`--${paddle.join(", --")} ${paddle.length > 1 ? "are" : "is"} PaddleNLP-only; not for --format peft`);
    }
    if (given("prefix_projection_hidden_size") && a["prefix_projection"] !== true) throw new Error("--prefix_projection_hidden_size needs --prefix_projection");
    if (a["pre_caches"] === false && a["encoder_weights"] === false) throw new Error("--no-pre_caches with --no-encoder_weights leaves the prefix with nothing to load");
    const targets = String(a["target_modules"]).split(",").map((s) => s.trim());
    const unknown = targets.filter((t) => !(LORA_TARGETS as readonly string[]).includes(t));
    if (unknown.length > 0) throw new Error(`--target_modules: ${unknown.map((t) => JSON.stringify(t)).join(", ")} not among ${LORA_TARGETS.join(", ")}`);
    return true;
  })
  .strict()
  .fail((message, error) => fail(yargsError(message, error)))
  .version(false)
  .help()
  .wrap(null)
  .parseSync();

const common = {
  modelDir: argv["model_name_or_path"] as string,
  outDir: argv["output_path"] as string,
  format: argv["format"] as AdapterFormatName,
  seed: argv["seed"] as number,
  std: argv["std"] as number,
  dtype: argv["dtype"] as "f32" | "f16" | "bf16",
  overwrite: argv["overwrite"] as boolean,
};
try {
  if (argv["type"] === "lora") {
    makeLora({
      ...common,
      rank: argv["rank"] as number,
      ...(typeof argv["lora_alpha"] === "number" ? { alpha: argv["lora_alpha"] } : {}),
      rslora: argv["rslora"] as boolean,
      targets: String(argv["target_modules"]).split(",").map((s) => s.trim()) as LoraTarget[],
      zero: argv["zero"] as boolean,
      ...(common.format === "paddle" ? { shards: argv["shards"] as number } : {}),
    });
  } else {
    makePrefix({
      ...common,
      tokens: argv["num_prefix_tokens"] as number,
      ...(argv["prefix_projection"] === true ? { projectionHidden: argv["prefix_projection_hidden_size"] as number } : {}),
      ...(common.format === "paddle" ? { preCaches: argv["pre_caches"] as boolean, weights: argv["encoder_weights"] as boolean } : {}),
    });
  }
} catch (e) {
  fail(e);
}
process.stdout.write(`make-adapter: wrote ${common.outDir}\n`);
