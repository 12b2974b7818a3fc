import type { DecoderConfig } from "../config.js";
import type { PrefixCache } from "../eager/model.js";
import type { AdapterJson } from "./config-json.js";
import { AdapterError } from "./errors.js";
import type { NpyArray } from "./npy.js";
import { evaluatePaddleProjection, prefixFromPaddle, prefixFromPreCaches, type PrefixShape } from "./prefix-layout.js";
import type { AdapterTensors } from "./tensor-file.js";

/*
 * PaddleNLP prefix tuning (paddlenlp/peft/prefix/prefix_config.py,
 * prefix_model.py, utils.py; llm/utils/utils.py get_prefix_tuning_params):
 * prefix_config.json, the prefix encoder's weights under their
 * nn.Sequential names, and pre_caches.npy, the encoder's output saved by
 * save_pretrained. head_dim = hidden_size / num_attention_heads, and the
 * encoder works in kv_dim = multi_query_group_num * head_dim (the KV heads;
 * num_attention_heads when null):
 * - without projection: "0.weight" [tokens, 2*layers*kv_dim], the keys and
 *   values themselves;
 * - with projection: "0.weight" [tokens, kv_dim] (Embedding), "1.weight"
 *   [kv_dim, prefix_projection_hidden_size] and "1.bias" (Linear), Tanh,
 *   "3.weight" [prefix_projection_hidden_size, 2*layers*kv_dim] and
 *   "3.bias" (Linear), evaluated here.
 * When both the weights and pre_caches.npy are present they must agree.
 */

const USED = [
  "num_prefix_tokens",
  "num_hidden_layers",
  "num_attention_heads",
  "multi_query_group_num",
  "hidden_size",
  "prefix_projection",
  "prefix_projection_hidden_size",
];

const IGNORED = ["prefix_dropout", "tensor_parallel_degree", "dtype", "base_model_name_or_path"];

/** pre_caches.npy and the evaluated encoder agree when every element is within this fraction of the largest magnitude. */
const AGREEMENT = 1e-2;

/** Reads a PaddleNLP prefix-tuning adapter from its encoder weights, pre_caches.npy, or both. */
export function readPaddlePrefix(
  json: AdapterJson,
  sources: { readonly tensors: AdapterTensors | null; readonly preCaches: { readonly file: string; readonly array: NpyArray } | null },
  cfg: DecoderConfig,
): PrefixCache {
  json.checkKeys({ used: USED, ignored: IGNORED, refused: {} });
  const tokens = json.positiveInt("num_prefix_tokens");
  const layers = json.positiveInt("num_hidden_layers");
  if (layers !== cfg.numLayers) throw json.error("num_hidden_layers", `is ${layers}, but the model has ${cfg.numLayers} layers`);
  const heads = json.positiveInt("num_attention_heads");
  if (heads !== cfg.numHeads) throw json.error("num_attention_heads", `is ${heads}, but the model has ${cfg.numHeads} attention heads`);
  const kvHeads = json.positiveInt("multi_query_group_num", heads);
  if (kvHeads !== cfg.numKvHeads) {
    throw json.error("multi_query_group_num", `is ${json.has("multi_query_group_num") ? kvHeads : `absent (so num_attention_heads, ${heads})`}, but the model has ${cfg.numKvHeads} key/value heads`);
  }
  const hidden = json.positiveInt("hidden_size");
  if (hidden % heads !== 0 || hidden / heads !== cfg.headDim) {
    throw json.error("hidden_size", `is ${hidden}: hidden_size / num_attention_heads = ${hidden / heads}, but the model's head_dim is ${cfg.headDim}`);
  }
  const projection = json.bool("prefix_projection", false);
  const shape: PrefixShape = { tokens, layers, kvHeads, headDim: cfg.headDim };
  const { tensors, preCaches } = sources;
  if (tensors === null && preCaches === null) throw new AdapterError(`${json.file}: the directory holds neither the prefix encoder's weights nor pre_caches.npy`);

  const fromWeights = tensors === null ? null : readEncoder(json, tensors, shape, projection);
  let fromNpy: PrefixCache | null = null;
  if (preCaches !== null) {
    const want = [layers, 2, kvHeads, tokens, cfg.headDim];
    const got = preCaches.array.shape;
    if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
      throw new AdapterError(`${preCaches.file}: shape [${got.join(", ")}], expected [layers, 2, kv_heads, num_prefix_tokens, head_dim] = [${want.join(", ")}] from ${json.file} and the model`);
    }
    fromNpy = prefixFromPreCaches(preCaches.array.data, shape);
  }
  if (fromWeights !== null && fromNpy !== null) checkAgree(fromWeights, fromNpy, tensors!.where, preCaches!.file);
  return fromWeights ?? fromNpy!;
}

function readEncoder(json: AdapterJson, tensors: AdapterTensors, shape: PrefixShape, projection: boolean): PrefixCache {
  const kvDim = shape.kvHeads * shape.headDim;
  const out = 2 * shape.layers * kvDim;
  if (!projection) {
    for (const n of ["1.weight", "3.weight"]) {
      if (tensors.has(n)) throw new AdapterError(`${tensors.where}: holds "${n}", a projection layer, but ${json.file} says prefix_projection is false`);
    }
    const e = tensors.read("0.weight", [shape.tokens, out], `num_prefix_tokens ${shape.tokens} x 2 * num_hidden_layers ${shape.layers} * kv_dim ${kvDim}`);
    tensors.checkAllRead("the encoder without projection is the embedding \"0.weight\" alone");
    return prefixFromPaddle(e, shape);
  }
  const hidden = json.positiveInt("prefix_projection_hidden_size");
  const need = (name: string, dims: number[], what: string): Float32Array => {
    if (!tensors.has(name)) {
      throw new AdapterError(`${tensors.where}: tensor "${name}" (${what}) is missing, so the projecting prefix encoder (Embedding, Linear, Tanh, Linear) cannot be evaluated`);
    }
    return tensors.read(name, dims, what);
  };
  const output = evaluatePaddleProjection(
    {
      embedding: need("0.weight", [shape.tokens, kvDim], `embedding: num_prefix_tokens ${shape.tokens} x kv_dim ${kvDim}`),
      w1: need("1.weight", [kvDim, hidden], `first Linear: kv_dim ${kvDim} x prefix_projection_hidden_size ${hidden}`),
      b1: need("1.bias", [hidden], "first Linear's bias"),
      w2: need("3.weight", [hidden, out], `second Linear: prefix_projection_hidden_size ${hidden} x 2 * layers * kv_dim ${out}`),
      b2: need("3.bias", [out], "second Linear's bias"),
      hidden,
    },
    shape,
  );
  tensors.checkAllRead("the projecting encoder is 0.weight, 1.weight, 1.bias, 3.weight and 3.bias");
  return prefixFromPaddle(output, shape);
}

function checkAgree(a: PrefixCache, b: PrefixCache, weights: string, npy: string): void {
  const parts = [...a.keys.map((k, l) => ["keys", l, k, b.keys[l]!] as const), ...a.values.map((v, l) => ["values", l, v, b.values[l]!] as const)];
  let max = 0;
  for (const [, , x] of parts) for (const v of x) max = Math.max(max, Math.abs(v));
  for (const [what, l, x, y] of parts) {
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]! - y[i]!) > AGREEMENT * max) {
        throw new AdapterError(`${npy}: disagrees with the prefix encoder in ${weights} (layer ${l} ${what}, element ${i}: ${y[i]} vs ${x[i]}); one of them is stale`);
      }
    }
  }
}
