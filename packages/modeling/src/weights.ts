import type { DecoderConfig } from "./config.js";
import type { Linear } from "./ops.js";

/** A tensor the model needs from the checkpoint. */
export interface ParamSpec {
  /** Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight". */
  readonly name: string;
  readonly shape: readonly number[];
}

export interface LayerWeights<W> {
  readonly inputNorm: W; // [hidden]
  readonly q: Linear<W>; // [heads*head_dim, hidden]
  readonly k: Linear<W>; // [kv_heads*head_dim, hidden]
  readonly v: Linear<W>; // [kv_heads*head_dim, hidden]
  readonly o: Linear<W>; // [hidden, heads*head_dim]
  readonly postNorm: W; // [hidden]
  readonly gate: Linear<W>; // [intermediate, hidden]
  readonly up: Linear<W>; // [intermediate, hidden]
  readonly down: Linear<W>; // [hidden, intermediate]
}

export interface DecoderWeights<W> {
  readonly embedTokens: W; // [vocab, hidden]
  readonly layers: readonly LayerWeights<W>[];
  readonly norm: W; // [hidden]
  /** The same W as embedTokens when the embeddings are tied. */
  readonly lmHead: W; // [vocab, hidden]
}

/** Every tensor a decoder of this config reads, with the shape it must have. */
export function decoderParams(cfg: DecoderConfig): ParamSpec[] {
  const h = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const params: ParamSpec[] = [{ name: "model.embed_tokens.weight", shape: [cfg.vocabSize, h] }];
  const linear = (name: string, out: number, inp: number, bias: boolean): void => {
    params.push({ name: `${name}.weight`, shape: [out, inp] });
    if (bias) params.push({ name: `${name}.bias`, shape: [out] });
  };
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    params.push({ name: `${p}.input_layernorm.weight`, shape: [h] });
    linear(`${p}.self_attn.q_proj`, qDim, h, cfg.qkvBias);
    linear(`${p}.self_attn.k_proj`, kvDim, h, cfg.qkvBias);
    linear(`${p}.self_attn.v_proj`, kvDim, h, cfg.qkvBias);
    linear(`${p}.self_attn.o_proj`, h, qDim, cfg.oBias);
    params.push({ name: `${p}.post_attention_layernorm.weight`, shape: [h] });
    linear(`${p}.mlp.gate_proj`, cfg.intermediateSize, h, cfg.mlpBias);
    linear(`${p}.mlp.up_proj`, cfg.intermediateSize, h, cfg.mlpBias);
    linear(`${p}.mlp.down_proj`, h, cfg.intermediateSize, cfg.mlpBias);
  }
  params.push({ name: "model.norm.weight", shape: [h] });
  if (!cfg.tieWordEmbeddings) params.push({ name: "lm_head.weight", shape: [cfg.vocabSize, h] });
  return params;
}

/**
 * Assembles the weights of a decoder from `get`, which a backend implements
 * (the eager one loads and converts a tensor, the trace one makes an
 * initializer). `lora` supplies unmerged adapters for a linear layer by its
 * module name ("model.layers.0.self_attn.q_proj").
 */
export function buildDecoderWeights<W>(
  cfg: DecoderConfig,
  get: (name: string) => W,
  lora: (module: string) => Linear<W>["lora"] = () => [],
): DecoderWeights<W> {
  const linear = (module: string, bias: boolean): Linear<W> => ({
    weight: get(`${module}.weight`),
    bias: bias ? get(`${module}.bias`) : null,
    lora: lora(module),
  });
  const layers: LayerWeights<W>[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    layers.push({
      inputNorm: get(`${p}.input_layernorm.weight`),
      q: linear(`${p}.self_attn.q_proj`, cfg.qkvBias),
      k: linear(`${p}.self_attn.k_proj`, cfg.qkvBias),
      v: linear(`${p}.self_attn.v_proj`, cfg.qkvBias),
      o: linear(`${p}.self_attn.o_proj`, cfg.oBias),
      postNorm: get(`${p}.post_attention_layernorm.weight`),
      gate: linear(`${p}.mlp.gate_proj`, cfg.mlpBias),
      up: linear(`${p}.mlp.up_proj`, cfg.mlpBias),
      down: linear(`${p}.mlp.down_proj`, cfg.mlpBias),
    });
  }
  const embedTokens = get("model.embed_tokens.weight");
  return {
    embedTokens,
    layers,
    norm: get("model.norm.weight"),
    lmHead: cfg.tieWordEmbeddings ? embedTokens : get("lm_head.weight"),
  };
}
