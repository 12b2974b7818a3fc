/**
 * The decoder configuration every architecture normalizes its config.json
 * into. Architectures differ by these switches, not by copies of the model.
 */
export type RopeScaling = LinearRopeScaling | Llama3RopeScaling;

/** Positions divided by `factor` ("rope_type": "linear"): every frequency scaled alike. */
export interface LinearRopeScaling {
  readonly type: "linear";
  readonly factor: number;
}

/** Llama 3's frequency-dependent scaling ("rope_type": "llama3"). */
export interface Llama3RopeScaling {
  readonly type: "llama3";
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}

export interface DecoderConfig {
  /** The config.json `architectures[0]` this was read from. */
  readonly architecture: string;
  /** The registry key of the architecture family ("qwen2", "llama"). */
  readonly family: string;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling | null;
  readonly maxPositions: number;
  /** Bias on the q, k and v projections (Qwen2). */
  readonly qkvBias: boolean;
  /** Bias on the output projection (Llama's attention_bias covers o_proj too). */
  readonly oBias: boolean;
  /** Bias on gate, up and down (Llama's mlp_bias). */
  readonly mlpBias: boolean;
  /** lm_head shares the token embedding. */
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  /** config.json's torch_dtype, if it says. */
  readonly torchDtype: string | null;
}

/** A config.json that cannot be used: names the key and what is wrong. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
