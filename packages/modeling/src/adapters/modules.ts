import type { DecoderConfig } from "../config.js";
import { paddleNlpPrefix } from "../weight-layout.js";
import { decoderParams } from "../weights.js";
import { AdapterError } from "./errors.js";

/**
 * The module names adapter configs are matched against. Hugging Face (PEFT)
 * names the decoder's modules "model.layers.0.self_attn.q_proj"; PaddleNLP
 * names the same layer "qwen2.layers.0.self_attn.q_proj" (Qwen2) or
 * "llama.layers.0.self_attn.q_proj" (Llama), after the model's
 * base_model_prefix.
 */

/** A linear layer of the decoder that LoRA can change, in Hugging Face layout. */
export interface LinearModule {
  /** Hugging Face module name, e.g. "model.layers.0.self_attn.q_proj". */
  readonly name: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
}

/** A module of the model as a PEFT or PaddleNLP target pattern sees it. */
export interface ModuleEntry {
  /** The name in the adapter's own convention. */
  readonly name: string;
  /** The linear layer it is, or null for containers, norms and embeddings. */
  readonly linear: LinearModule | null;
  /** Why LoRA cannot apply, for a module that is not a decoder linear layer. */
  readonly notLinear: string | null;
}

/** Every linear layer of the decoder layers (q, k, v, o, gate, up, down), from the weights the model reads. */
export function linearModules(cfg: DecoderConfig): LinearModule[] {
  const out: LinearModule[] = [];
  for (const p of decoderParams(cfg)) {
    if (p.shape.length !== 2 || !p.name.startsWith("model.layers.") || !p.name.endsWith(".weight")) continue;
    out.push({ name: p.name.slice(0, -".weight".length), outFeatures: p.shape[0]!, inFeatures: p.shape[1]! });
  }
  return out;
}

/**
 * The modules of the model under `root` (the Hugging Face "model" or
 * PaddleNLP's base_model_prefix): the containers, each decoder layer's
 * attention and MLP with their projections and norms, the embedding, the
 * final norm and lm_head. Only the projections are linear layers LoRA can
 * target; a pattern matching any other module is an error, as it is in
 * PEFT and PaddleNLP.
 */
function moduleEntries(cfg: DecoderConfig, root: string): ModuleEntry[] {
  const linear = new Map(linearModules(cfg).map((m) => [m.name, m]));
  const entries: ModuleEntry[] = [];
  const other = (name: string, why: string): void => {
    entries.push({ name, linear: null, notLinear: why });
  };
  const container = "a container of other modules, not a linear layer";
  const norm = "an RMS norm, not a linear layer";
  other(root, container);
  other(`${root}.embed_tokens`, "the token embedding: LoRA on embeddings is not supported");
  other(`${root}.layers`, container);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `layers.${l}`;
    other(`${root}.${p}`, container);
    other(`${root}.${p}.self_attn`, container);
    for (const proj of ["q_proj", "k_proj", "v_proj", "o_proj"]) {
      entries.push({ name: `${root}.${p}.self_attn.${proj}`, linear: linear.get(`model.${p}.self_attn.${proj}`)!, notLinear: null });
    }
    other(`${root}.${p}.mlp`, container);
    for (const proj of ["gate_proj", "up_proj", "down_proj"]) {
      entries.push({ name: `${root}.${p}.mlp.${proj}`, linear: linear.get(`model.${p}.mlp.${proj}`)!, notLinear: null });
    }
    other(`${root}.${p}.input_layernorm`, norm);
    other(`${root}.${p}.post_attention_layernorm`, norm);
  }
  other(`${root}.norm`, norm);
  other("lm_head", "the output projection: LoRA on lm_head is not supported (it may share the embedding's weight)");
  return entries;
}

/** The modules under Hugging Face names. */
export function hfModules(cfg: DecoderConfig): ModuleEntry[] {
  return moduleEntries(cfg, "model");
}

/**
 * PaddleNLP's base_model_prefix for the architecture: the first part of its
 * layer names. Only the architectures whose PaddleNLP layer names are known
 * are accepted.
 */
export function paddleRoot(cfg: DecoderConfig, where: string): string {
  const root = paddleNlpPrefix(cfg.architecture);
  if (root === null) throw new AdapterError(`${where}: PaddleNLP adapters are read for Qwen2ForCausalLM and LlamaForCausalLM; this model is ${cfg.architecture}`);
  return root;
}

/** The modules under PaddleNLP names ("qwen2.layers.0.self_attn.q_proj"). */
export function paddleModules(cfg: DecoderConfig, where: string): ModuleEntry[] {
  return moduleEntries(cfg, paddleRoot(cfg, where));
}

/**
 * Compiles a regular expression from an adapter config. The configs were
 * written for Python's `re`; the common syntax (classes, groups,
 * alternation, quantifiers, escapes) means the same in JavaScript, and the
 * Python-only group syntax is refused rather than misread. "full" is
 * re.fullmatch; "end" matches a dot-separated tail of the name, as PEFT's
 * rank_pattern and alpha_pattern keys do (re.match of `(.*\.)?(key)$`).
 */
export function pythonRegex(pattern: string, anchor: "full" | "end", where: string): RegExp {
  if (/\(\?P[<=]|\\[AZ]|\(\?#/.test(pattern)) {
    throw new AdapterError(`${where}: ${JSON.stringify(pattern)} uses Python-only regular expression syntax ((?P<..>), \\A, \\Z or (?#..)), which Oar does not translate`);
  }
  const source = anchor === "full" ? `^(?:${pattern})$` : `^(?:.*\\.)?(?:${pattern})$`;
  try {
    return new RegExp(source);
  } catch (e) {
    throw new AdapterError(`${where}: ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`);
  }
}

/**
 * The linear layers a set of matched modules names. Throws when nothing
 * matched, or when a match is not a linear layer of the decoder.
 */
export function matchedLinears(entries: readonly ModuleEntry[], matches: (name: string) => boolean, describe: string, where: string): Map<string, { entry: ModuleEntry; linear: LinearModule }> {
  const out = new Map<string, { entry: ModuleEntry; linear: LinearModule }>();
  for (const e of entries) {
    if (!matches(e.name)) continue;
    if (e.linear === null) throw new AdapterError(`${where}: ${describe} matches "${e.name}", which is ${e.notLinear}`);
    out.set(e.linear.name, { entry: e, linear: e.linear });
  }
  if (out.size === 0) {
    const example = entries.find((e) => e.linear !== null)?.name ?? "";
    throw new AdapterError(`${where}: ${describe} matches no module of this model (its linear layers are named like "${example}")`);
  }
  return out;
}
