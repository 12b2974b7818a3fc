import type { DecoderConfig } from "../config.js";
import type { AdapterJson } from "./config-json.js";
import { AdapterError } from "./errors.js";
import { loraScale, type LoraLayer } from "./lora.js";
import { matchedLinears, paddleModules, pythonRegex } from "./modules.js";
import { transpose } from "./matrix.js";
import type { AdapterTensors } from "./tensor-file.js";

/*
 * PaddleNLP LoRA (paddlenlp/peft/lora/lora_config.py, lora_model.py,
 * lora_layers.py): lora_config.json and the unified checkpoint's
 * peft_model.safetensors (or shards peft_model-0000k-of-0000N.safetensors
 * with peft_model.safetensors.index.json). Paddle's nn.Linear computes
 * y = x W + b with W [in, out], and LoRALinear stores lora_A [in, r] and
 * lora_B [r, out], adding (x A B) * scaling. In Hugging Face layout that is
 * A_hf = lora_A^T [r, in], B_hf = lora_B^T [out, r]: the same update.
 *
 * target_modules are regular expressions, each full-matched (re.fullmatch)
 * against the Paddle layer names of the model ("qwen2.layers.0.mlp.up_proj").
 *
 * "scaling" is written by LoRAConfig.save_pretrained, and from_pretrained
 * drops it and recomputes lora_alpha / r (lora_alpha / sqrt(r) with rslora).
 * Oar computes it the same way, and refuses a file whose saved scaling
 * disagrees with that, since one of the two was edited by hand.
 */

const USED = ["r", "lora_alpha", "rslora", "target_modules", "scaling", "pissa"];

/** Keys that do not change what a saved LoRA adapter computes (training, parallelism, provenance). */
const IGNORED = [
  "lora_dropout",
  "merge_weights",
  "tensor_parallel_degree",
  "dtype",
  "base_model_name_or_path",
  "use_quick_lora",
  "lora_plus_scale",
  "head_dim",
  "mixer_num",
  "lorapro",
  "lorapro_x_mode",
  "lorapro_scaling_factor",
  "use_intermediate_api",
];

const REFUSED: Readonly<Record<string, string>> = {
  trainable_modules: "fully trained extra modules are not supported",
  trainable_bias: "trained biases are not supported",
  enable_lora_list: "LoRA on fused q/k/v layers (LoRAMergedLinear) is not supported",
  do_qat: "quantization-aware LoRA is not supported",
  use_mora: "MoRA is not supported",
  lora_use_mixer: "MosLoRA (lora_use_mixer) is not supported",
  loraga: "LoRA-GA adapters hold their initial values beside the trained ones and need base weights changed by them; merge them with PaddleNLP first",
  nola: "NOLA is not supported",
};

/** Reads a PaddleNLP LoRA adapter's config and tensors into layers in Hugging Face layout. */
export function readPaddleLora(json: AdapterJson, tensors: AdapterTensors, cfg: DecoderConfig): LoraLayer[] {
  json.checkKeys({ used: USED, ignored: IGNORED, refused: REFUSED });
  if (json.bool("pissa", false)) {
    throw json.error(
      "pissa",
      "is true: PaddleNLP's PiSSA replaces the base weight W by W - U_r S_r V_r^T at the first forward pass and runs LoRA with scaling 1 on top, so these lora_A and lora_B only make sense with that residual base, which this checkpoint does not hold; merge the adapter with PaddleNLP and load the merged checkpoint instead",
    );
  }
  const r = json.positiveInt("r");
  const alpha = json.number("lora_alpha", 8);
  const rslora = json.bool("rslora", false);
  const scale = loraScale({ alpha, rank: r, rslora });
  if (json.has("scaling")) {
    const saved = json.number("scaling");
    if (Math.abs(saved - scale) > 1e-6 * Math.max(1, Math.abs(scale))) {
      throw json.error("scaling", `is ${saved}, but lora_alpha / ${rslora ? "sqrt(r)" : "r"} = ${alpha} / ${rslora ? `sqrt(${r})` : r} = ${scale}; PaddleNLP recomputes the scaling and ignores the saved one, so the file contradicts itself`);
    }
  }
  const raw = json.stringOrList("target_modules");
  if (raw === null) throw json.error("target_modules", "is missing: without it PaddleNLP applies no LoRA at all");
  const patterns = typeof raw === "string" ? [raw] : raw;
  const res = patterns.map((p) => pythonRegex(p, "full", `${json.file}: "target_modules"`));
  const entries = paddleModules(cfg, json.file);
  const targets = matchedLinears(entries, (name) => res.some((re) => re.test(name)), `"target_modules" ${JSON.stringify(raw)}`, json.file);

  const layers: LoraLayer[] = [];
  for (const { entry, linear } of targets.values()) {
    const aName = `${entry.name}.lora_A`;
    const bName = `${entry.name}.lora_B`;
    for (const n of [aName, bName]) {
      if (!tensors.has(n)) throw new AdapterError(`${tensors.where}: tensor "${n}" is missing (${json.file} targets ${entry.name})`);
    }
    const aShape = tensors.info(aName).shape;
    const bShape = tensors.info(bName).shape;
    if (aShape.length === 2 && bShape.length === 2 && aShape[1] !== bShape[0]) {
      throw new AdapterError(`${tensors.where}: rank mismatch for ${entry.name}: lora_A is [${aShape.join(", ")}] (rank ${aShape[1]}), lora_B is [${bShape.join(", ")}] (rank ${bShape[0]})`);
    }
    const inF = linear.inFeatures;
    const outF = linear.outFeatures;
    const a = tensors.read(aName, [inF, r], `lora_A of ${entry.name}: in_features ${inF} x rank ${r} (r in ${json.file})`);
    const b = tensors.read(bName, [r, outF], `lora_B of ${entry.name}: rank ${r} (r in ${json.file}) x out_features ${outF}`);
    layers.push({
      module: linear.name,
      rank: r,
      inFeatures: inF,
      outFeatures: outF,
      a: transpose(a, inF, r),
      b: transpose(b, r, outF),
      scale,
      source: `${tensors.where} (${entry.name})`,
    });
  }
  tensors.checkAllRead(`it is not the lora_A or lora_B of a layer ${json.file} targets`);
  return layers;
}

