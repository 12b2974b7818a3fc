import type { DecoderConfig, Llama3RopeScaling } from "./config.js";

/**
 * Inverse frequencies of rotary embedding, [head_dim/2]: theta^(-2i/d), with
 * the config's scaling (linear, or Llama 3's frequency-dependent one). Both
 * backends use this one table (the trace stores it as an initializer).
 */
export function ropeInvFreq(cfg: Pick<DecoderConfig, "headDim" | "ropeTheta" | "ropeScaling">): Float32Array {
  const half = cfg.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s === null) return inv;
  switch (s.type) {
    case "linear":
      for (let i = 0; i < half; i++) inv[i] = inv[i]! / s.factor;
      return inv;
    case "llama3":
      return llama3(inv, s);
    default: {
      const never: never = s;
      throw new Error(`unknown rope scaling ${JSON.stringify(never)}`);
    }
  }
}

function llama3(inv: Float32Array, s: Llama3RopeScaling): Float32Array {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  for (let i = 0; i < inv.length; i++) {
    const f = inv[i]!;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highWavelen) continue;
    if (wavelen > lowWavelen) {
      inv[i] = f / s.factor;
    } else {
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
    }
  }
  return inv;
}
