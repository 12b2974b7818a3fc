import type { DecoderConfig } from "./config.js";
import type { Ops } from "./ops.js";
import type { DecoderWeights } from "./weights.js";

/**
 * The decoder of Llama, Qwen2 and their relatives, written once: pre-norm
 * blocks of rotary GQA attention and a SwiGLU MLP. Returns the logits of the
 * rows the step asked for, [rows, vocab].
 */
export function decoderForward<T, W>(ops: Ops<T, W>, cfg: DecoderConfig, w: DecoderWeights<W>): T {
  const eps = cfg.rmsNormEps;
  const attention = {
    heads: cfg.numHeads,
    kvHeads: cfg.numKvHeads,
    headDim: cfg.headDim,
    scale: 1 / Math.sqrt(cfg.headDim),
  };
  let h = ops.embed(w.embedTokens, ops.inputIds(), { name: "embed_tokens" });
  for (let layer = 0; layer < cfg.numLayers; layer++) {
    const lw = w.layers[layer]!;
    const x = ops.rmsNorm(h, lw.inputNorm, eps, { name: "input_layernorm", layer });
    const q = ops.linear(x, lw.q, { name: "q_proj", layer });
    const k = ops.linear(x, lw.k, { name: "k_proj", layer });
    const v = ops.linear(x, lw.v, { name: "v_proj", layer });
    const qr = ops.rope(q, { heads: cfg.numHeads, headDim: cfg.headDim }, { name: "q_rope", layer });
    const kr = ops.rope(k, { heads: cfg.numKvHeads, headDim: cfg.headDim }, { name: "k_rope", layer });
    const a = ops.attention(qr, kr, v, { layer, ...attention }, { name: "attn", layer });
    h = ops.add(h, ops.linear(a, lw.o, { name: "o_proj", layer }), { name: "attn_residual", layer });

    const y = ops.rmsNorm(h, lw.postNorm, eps, { name: "post_attention_layernorm", layer });
    const gate = ops.silu(ops.linear(y, lw.gate, { name: "gate_proj", layer }), { name: "act", layer });
    const up = ops.linear(y, lw.up, { name: "up_proj", layer });
    const mlp = ops.linear(ops.mul(gate, up, { name: "gate_up", layer }), lw.down, { name: "down_proj", layer });
    h = ops.add(h, mlp, { name: "mlp_residual", layer });
  }
  h = ops.rmsNorm(h, w.norm, eps, { name: "norm" });
  return ops.linear(ops.logitRows(h, { name: "logit_rows" }), { weight: w.lmHead, bias: null, lora: [] }, { name: "lm_head" });
}
