import type { DecoderConfig } from "../config.js";
import type { AdapterJson } from "./config-json.js";
import { AdapterError } from "./errors.js";
import { loraScale, type LoraLayer } from "./lora.js";
import { hfModules, matchedLinears, pythonRegex } from "./modules.js";
import type { AdapterTensors } from "./tensor-file.js";

/*
 * PEFT LoRA (huggingface/peft: tuners/lora/config.py, tuners/tuners_utils.py
 * check_target_module_exists, utils/other.py get_pattern_key): the
 * adapter_config.json of a LoraConfig and adapter_model.safetensors with
 * base_model.model.<module>.lora_A.weight [r, in] and .lora_B.weight
 * [out, r], already in Hugging Face layout.
 */

/** Keys that do not change what a saved LoRA adapter computes. */
const IGNORED = [
  "peft_type",
  "task_type",
  "auto_mapping",
  "peft_version",
  "base_model_name_or_path",
  "revision",
  "inference_mode",
  "lora_dropout",
  // Parallel-training and initialization settings, used before training only.
  "megatron_core",
  "runtime_config",
  "loftq_config",
  "eva_config",
  "qalora_group_size",
  "ensure_weight_tying",
  // PEFT resets fan_in_fan_out to false for torch.nn.Linear, which every layer LoRA targets here is.
  "fan_in_fan_out",
];

const USED = [
  "r",
  "lora_alpha",
  "use_rslora",
  "target_modules",
  "exclude_modules",
  "layers_to_transform",
  "layers_pattern",
  "rank_pattern",
  "alpha_pattern",
  "bias",
  "init_lora_weights",
];

const REFUSED: Readonly<Record<string, string>> = {
  use_dora: "DoRA is not supported (Oar applies plain LoRA)",
  use_qalora: "QA-LoRA is not supported",
  lora_bias: "LoRA with a bias on lora_B is not supported",
  modules_to_save: "fully trained extra modules are not supported",
  trainable_token_indices: "trainable token embeddings are not supported",
  layer_replication: "layer replication is not supported",
  target_parameters: "LoRA on raw parameters (target_parameters) is not supported",
  megatron_config: "Megatron parallel LoRA layers are not supported",
  alora_invocation_tokens: "activated LoRA (aLoRA) is not supported",
};

/** init_lora_weights values whose adapters are meant for a base model whose weights were changed at initialization. */
const BASE_CHANGING_INITS = ["pissa", "olora", "corda", "loftq", "lora_ga"];

/** Reads a PEFT LoRA adapter's config and tensors into layers in Hugging Face layout. */
export function readPeftLora(json: AdapterJson, tensors: AdapterTensors, cfg: DecoderConfig): LoraLayer[] {
  json.checkKeys({ used: USED, ignored: IGNORED, refused: REFUSED });
  const bias = json.raw("bias") ?? "none";
  if (bias !== "none") throw json.error("bias", `is ${JSON.stringify(bias)}: only "none" is supported (trained biases are not applied)`);
  checkInit(json);
  const r = json.positiveInt("r");
  const alpha = json.number("lora_alpha", 8);
  const rslora = json.bool("use_rslora", false);
  const rankPattern = json.numberMap("rank_pattern");
  const alphaPattern = json.numberMap("alpha_pattern");
  for (const [k, v] of rankPattern) {
    if (!Number.isSafeInteger(v) || v <= 0) throw json.error("rank_pattern", `maps "${k}" to ${v}, not a positive integer`);
  }
  const patternKey = (patterns: Map<string, number>, key: "rank_pattern" | "alpha_pattern", module: string): number | undefined => {
    for (const [p, v] of patterns) {
      if (pythonRegex(p, "end", `${json.file}: "${key}" key`).test(module)) return v;
    }
    return undefined;
  };

  const matches = targetMatcher(json);
  const targets = matchedLinears(hfModules(cfg), matches, `"target_modules" ${JSON.stringify(json.raw("target_modules"))}`, json.file);
  const layers: LoraLayer[] = [];
  for (const { linear } of targets.values()) {
    const rank = patternKey(rankPattern, "rank_pattern", linear.name) ?? r;
    const moduleAlpha = patternKey(alphaPattern, "alpha_pattern", linear.name) ?? alpha;
    const aName = `base_model.model.${linear.name}.lora_A.weight`;
    const bName = `base_model.model.${linear.name}.lora_B.weight`;
    for (const n of [aName, bName]) {
      if (!tensors.has(n)) throw new AdapterError(`${tensors.where}: tensor "${n}" is missing (${json.file} targets ${linear.name})`);
    }
    const aShape = tensors.info(aName).shape;
    const bShape = tensors.info(bName).shape;
    if (aShape.length === 2 && bShape.length === 2 && aShape[0] !== bShape[1]) {
      throw new AdapterError(`${tensors.where}: rank mismatch for ${linear.name}: lora_A is [${aShape.join(", ")}] (rank ${aShape[0]}), lora_B is [${bShape.join(", ")}] (rank ${bShape[1]})`);
    }
    const rankFrom = rankPattern.size > 0 ? `rank ${rank} (r and rank_pattern in ${json.file})` : `rank ${rank} (r in ${json.file})`;
    layers.push({
      module: linear.name,
      rank,
      inFeatures: linear.inFeatures,
      outFeatures: linear.outFeatures,
      a: tensors.read(aName, [rank, linear.inFeatures], `lora_A of ${linear.name}: ${rankFrom} x in_features ${linear.inFeatures}`),
      b: tensors.read(bName, [linear.outFeatures, rank], `lora_B of ${linear.name}: out_features ${linear.outFeatures} x ${rankFrom}`),
      scale: loraScale({ alpha: moduleAlpha, rank, rslora }),
      source: `${tensors.where} (${linear.name})`,
    });
  }
  tensors.checkAllRead(`it is not the lora_A or lora_B of a module ${json.file} targets`);
  return layers;
}

function checkInit(json: AdapterJson): void {
  const init = json.raw("init_lora_weights") ?? true;
  if (typeof init === "boolean") return;
  if (typeof init !== "string") throw json.error("init_lora_weights", `must be true, false or a method name, got ${JSON.stringify(init)}`);
  const lower = init.toLowerCase();
  if (BASE_CHANGING_INITS.some((m) => lower.startsWith(m))) {
    throw json.error(
      "init_lora_weights",
      `is "${init}": such adapters were trained against base weights that ${init} initialization changed (W minus the initial A and B), which this checkpoint does not hold; convert the adapter to plain LoRA first (PEFT's save_pretrained with path_initial_model_for_weight_conversion)`,
    );
  }
  if (lower !== "gaussian" && lower !== "eva" && lower !== "orthogonal") {
    throw json.error("init_lora_weights", `is "${init}", an initialization Oar does not know to leave the base weights and the LoRA forward pass unchanged`);
  }
}

/**
 * PEFT's target matching: a string is a regular expression full-matched
 * against each module name ("all-linear" meaning every linear layer but the
 * output layer); a list names modules by exact name or dot-separated
 * suffix, optionally restricted to `layers_to_transform`. `exclude_modules`
 * follows the same two forms.
 */
function targetMatcher(json: AdapterJson): (name: string) => boolean {
  const targets = json.stringOrList("target_modules");
  if (targets === null) {
    throw json.error("target_modules", "is missing: PEFT fills it in from the architecture when it creates an adapter, so a saved adapter always has it");
  }
  const excludes = json.stringOrList("exclude_modules");
  const excluded = excludes === null ? () => false : listOrRegex(excludes, json.file, "exclude_modules");
  let targeted: (name: string) => boolean;
  if (typeof targets === "string" && targets.toLowerCase() === "all-linear") {
    targeted = (name) => /\.(q|k|v|o|gate|up|down)_proj$/.test(name);
  } else {
    targeted = listOrRegex(targets, json.file, "target_modules");
    if (Array.isArray(targets)) targeted = restrictToLayers(json, targeted);
  }
  return (name) => !excluded(name) && targeted(name);
}

function listOrRegex(spec: string | readonly string[], file: string, key: string): (name: string) => boolean {
  if (typeof spec === "string") {
    const re = pythonRegex(spec, "full", `${file}: "${key}"`);
    return (name) => re.test(name);
  }
  return (name) => spec.some((t) => name === t || name.endsWith(`.${t}`));
}

function restrictToLayers(json: AdapterJson, targeted: (name: string) => boolean): (name: string) => boolean {
  const raw = json.raw("layers_to_transform");
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) return targeted;
  const indexes = typeof raw === "number" ? [raw] : raw;
  if (!Array.isArray(indexes) || !indexes.every((i) => typeof i === "number" && Number.isSafeInteger(i) && i >= 0)) {
    throw json.error("layers_to_transform", `must be a layer index or a list of them, got ${JSON.stringify(raw)}`);
  }
  const patternsRaw = json.stringOrList("layers_pattern");
  const patterns = patternsRaw === null ? [] : typeof patternsRaw === "string" ? [patternsRaw] : patternsRaw;
  const layerRes =
    patterns.length === 0
      ? [/^.*?\.[^.]*\.(\d+)\./]
      : patterns.map((p) => {
          try {
            return new RegExp(`^.*?\\.${p}\\.(\\d+)\\.`);
          } catch (e) {
            throw json.error("layers_pattern", `holds ${JSON.stringify(p)}, not a valid regular expression: ${(e as Error).message}`);
          }
        });
  return (name) => {
    if (!targeted(name)) return false;
    for (const re of layerRes) {
      const m = re.exec(name);
      if (m !== null) return (indexes as number[]).includes(Number(m[1]));
    }
    return false;
  };
}

