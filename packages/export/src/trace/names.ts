import type { Site } from "@oar/modeling";

/** Sites that live in a layer's attention module, as Hugging Face nests them. */
const ATTENTION_SITES: ReadonlySet<string> = new Set(["q_proj", "k_proj", "v_proj", "o_proj", "q_rope", "k_rope", "attn"]);
/** Sites that live in a layer's MLP module. */
const MLP_SITES: ReadonlySet<string> = new Set(["gate_proj", "up_proj", "down_proj", "act", "gate_up"]);

/**
 * The name scope of a site, in the style of torch.onnx exports:
 * "/model/layers.0/self_attn/q_proj", "/model/layers.3/mlp/act",
 * "/model/embed_tokens", "/lm_head". Nodes recorded for the site are named
 * `${scope}/${OpType}` and their first output `${scope}/${OpType}_output_0`.
 */
export function siteScope(site: Site): string {
  if (site.name === "lm_head") return "/lm_head";
  if (site.layer === undefined) return `/model/${site.name}`;
  const group = ATTENTION_SITES.has(site.name) ? "/self_attn" : MLP_SITES.has(site.name) ? "/mlp" : "";
  return `/model/layers.${site.layer}${group}/${site.name}`;
}
