/**
 * The small set of operations a decoder is written against. The eager
 * backend computes them on typed arrays; the trace backend of @oar/export
 * records them as ONNX nodes. Model code never looks inside a `T` or a `W`.
 *
 * Activations are rows of features: `[tokens, features]` in the eager
 * backend (the tokens of every sequence in the step, one after another),
 * `[batch, sequence, features]` in the trace. Positions, the KV cache and the
 * attention mask belong to the backend's current step, not to the model.
 */

/** Where a value sits in the model, for names in graphs and debug dumps. */
export interface Site {
  /** Short name of the value, as in Hugging Face module names ("q_proj", "input_layernorm"). */
  readonly name: string;
  /** Decoder layer index, absent outside the layer stack. */
  readonly layer?: number;
}

/** Low-rank update kept beside a weight instead of merged into it: y += scale * (x A^T) B^T. */
export interface LoraDelta<W> {
  readonly a: W; // [r, in]
  readonly b: W; // [out, r]
  readonly scale: number;
}

/** A dense layer y = x W^T (+ bias), Hugging Face layout. */
export interface Linear<W> {
  readonly weight: W; // [out, in]
  readonly bias: W | null; // [out]
  readonly lora: readonly LoraDelta<W>[];
}

export interface RopeOptions {
  readonly heads: number;
  readonly headDim: number;
}

export interface AttentionOptions {
  readonly layer: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Multiplies q.k before the softmax (1/sqrt(head_dim) for every model here). */
  readonly scale: number;
}

export interface Ops<T, W> {
  /** The token ids of the current step. */
  inputIds(): T;
  /** Rows of `table` [vocab, hidden] picked by `ids`. */
  embed(table: W, ids: T, site: Site): T;
  /** x [.., in] -> [.., out]. */
  linear(x: T, layer: Linear<W>, site: Site): T;
  /** x / sqrt(mean(x^2) + eps) * weight, over the last axis. */
  rmsNorm(x: T, weight: W, eps: number, site: Site): T;
  add(a: T, b: T, site: Site): T;
  mul(a: T, b: T, site: Site): T;
  /** x * sigmoid(x). */
  silu(x: T, site: Site): T;
  /**
   * Rotary embedding (rotate-half, Hugging Face layout) of x [.., heads*head_dim]
   * at the positions of the current step. The result is only ever passed to
   * `attention`, so a backend may return it in whatever head layout suits it.
   */
  rope(x: T, options: RopeOptions, site: Site): T;
  /**
   * Causal attention of the step's queries over the cache of `options.layer`
   * followed by the step's new keys and values, which the call appends to that
   * cache. q and k come from `rope`; v is [.., kv_heads*head_dim]. Returns
   * [.., heads*head_dim].
   */
  attention(q: T, k: T, v: T, options: AttentionOptions, site: Site): T;
  /** Only the rows whose logits the step asked for. */
  logitRows(x: T, site: Site): T;
}
