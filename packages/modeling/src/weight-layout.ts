import { type CheckpointFormat, type MappedTensor, type TensorSource, mapTensors, openCheckpoint } from "@oar/tensor";
import type { DecoderConfig } from "./config.js";
import { decoderParams } from "./weights.js";

/*
 * How a checkpoint names and orients the decoder's parameters, as data.
 * The model reads Hugging Face's layout: "model.layers.0.self_attn.q_proj.weight",
 * linear weights [out, in]. PaddleNLP saves the same parameters under its
 * base_model_prefix ("qwen2.layers.0.self_attn.q_proj.weight") with every
 * linear weight [in, out] (Paddle's nn.Linear computes x W), lm_head
 * included, and the token embedding [vocab, hidden] as Hugging Face does.
 * A checkpoint in PaddleNLP's layout is shown to the model in Hugging Face's
 * through a mapped TensorSource, so every loader reads one layout.
 */

/** The layouts a checkpoint's parameters can be in. */
export type WeightNaming = "huggingface" | "paddlenlp";

/** One layout: the prefix of the decoder's own parameters, and whether linear weights are stored [in, out]. */
interface Layout {
  /** The prefix that replaces Hugging Face's "model." (lm_head has none in either), or null for an architecture the layout has no name for. */
  readonly prefix: (architecture: string) => string | null;
  readonly linearTransposed: boolean;
}

/** PaddleNLP's base_model_prefix of each architecture it names this way. */
const PADDLENLP_PREFIX: Readonly<Record<string, string>> = {
  Qwen2ForCausalLM: "qwen2",
  LlamaForCausalLM: "llama",
};

const LAYOUTS: Readonly<Record<WeightNaming, Layout>> = {
  huggingface: { prefix: () => "model", linearTransposed: false },
  paddlenlp: { prefix: (architecture) => PADDLENLP_PREFIX[architecture] ?? null, linearTransposed: true },
};

/** PaddleNLP's first part of the names of `architecture`'s parameters ("qwen2"), or null when Oar does not know it. */
export function paddleNlpPrefix(architecture: string): string | null {
  return LAYOUTS.paddlenlp.prefix(architecture);
}

/** Where a Hugging Face parameter is in a checkpoint of `naming`: its name there, and whether it is stored transposed. */
export function storedParam(naming: WeightNaming, cfg: DecoderConfig, param: { readonly name: string; readonly shape: readonly number[] }): MappedTensor {
  const layout = LAYOUTS[naming];
  const prefix = layout.prefix(cfg.architecture);
  const from = prefix !== null && param.name.startsWith("model.") ? `${prefix}.${param.name.slice("model.".length)}` : param.name;
  const linear = param.shape.length === 2 && param.name !== "model.embed_tokens.weight";
  return { from, transpose: layout.linearTransposed && linear };
}

/** A checkpoint's weights, shown in Hugging Face's layout. */
export interface ModelWeights {
  /** Every tensor under its Hugging Face name, linear weights [out, in]. */
  readonly source: TensorSource;
  readonly format: CheckpointFormat;
  readonly naming: WeightNaming;
  /** The shard index read, or null for one file. */
  readonly index: string | null;
}

/**
 * Opens the weights of the checkpoint directory `dir` for a model of `cfg`:
 * any format openCheckpoint reads, in Hugging Face's or PaddleNLP's layout
 * (told apart by the token embedding's name). uint16 tensors (PaddleNLP's
 * bfloat16) are read as bf16 when config.json says the model is bfloat16.
 */
export function openModelWeights(dir: string, cfg: DecoderConfig): ModelWeights {
  const checkpoint = openCheckpoint(dir, cfg.torchDtype === "bfloat16" ? { uint16As: "bf16" } : {});
  try {
    const naming = namingOf(checkpoint, cfg, dir);
    if (naming === "huggingface") return { source: checkpoint, format: checkpoint.format, naming, index: checkpoint.index };
    const map = new Map<string, MappedTensor>();
    for (const p of decoderParams(cfg)) {
      const stored = storedParam(naming, cfg, p);
      if (!checkpoint.has(stored.from)) {
        throw new Error(`${checkpoint.index ?? dir}: tensor "${stored.from}" is missing (PaddleNLP's name for ${p.name}, needed by ${cfg.architecture} with this config.json)`);
      }
      map.set(p.name, stored);
    }
    const source = mapTensors(checkpoint, map, `${checkpoint.index ?? dir} (PaddleNLP names, e.g. "${storedParam(naming, cfg, { name: "model.embed_tokens.weight", shape: [] }).from}")`);
    return { source, format: checkpoint.format, naming, index: checkpoint.index };
  } catch (e) {
    checkpoint.close();
    throw e;
  }
}

/** Which layout the checkpoint is in: the one whose token embedding it holds. */
function namingOf(checkpoint: TensorSource, cfg: DecoderConfig, dir: string): WeightNaming {
  const embed = { name: "model.embed_tokens.weight", shape: [cfg.vocabSize, cfg.hiddenSize] };
  const found = (Object.keys(LAYOUTS) as WeightNaming[]).filter((n) => LAYOUTS[n].prefix(cfg.architecture) !== null && checkpoint.has(storedParam(n, cfg, embed).from));
  if (found.length > 1) {
    throw new Error(`${dir}: holds both "${storedParam("huggingface", cfg, embed).from}" and "${storedParam("paddlenlp", cfg, embed).from}": Hugging Face and PaddleNLP names mixed in one checkpoint`);
  }
  return found[0] ?? "huggingface";
}
