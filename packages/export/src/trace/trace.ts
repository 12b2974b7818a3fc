import type { TensorSource } from "@oar/tensor";
import { type DecoderConfig, buildDecoderWeights, checkCheckpoint, decoderForward } from "@oar/modeling";
import { Graph } from "../ir/graph.js";
import { type AttentionForm, TraceOps } from "./backend.js";
import type { GraphDType } from "./io.js";
import { type KvLayout, kvIo } from "./kv-io.js";
import { type MergedEdit, TraceWeights } from "./weights.js";

export interface TraceOptions {
  readonly config: DecoderConfig;
  /** The checkpoint's tensors; read only when the graph is written (or a pass asks). */
  readonly checkpoint: TensorSource;
  /** Where the checkpoint is, for messages. */
  readonly where: string;
  /** Element type of weights and activations (default f32). */
  readonly dtype?: GraphDType;
  /** Merged LoRA, applied to the listed weights as they are read. */
  readonly edit?: MergedEdit;
  /** The KV interface (./kv-io.ts; default "present", the past_key_values / present convention). */
  readonly kv?: KvLayout;
  /** How attention is written (TraceOps' `attention`; default "repeat-kv"). */
  readonly attention?: AttentionForm;
}

/**
 * Records the decoder of `config` as an ONNX graph of standard ops: the
 * model definition of @oar/modeling run by TraceOps, with the checkpoint's
 * weights as lazy initializers. Checks first that the checkpoint has every
 * tensor the config needs, with the right shape, naming the first that is
 * missing or wrong.
 */
export function traceDecoder(options: TraceOptions): Graph {
  const { config, checkpoint } = options;
  const dtype = options.dtype ?? "f32";
  checkCheckpoint(config, checkpoint, options.where);
  const graph = new Graph({ name: `${config.architecture} (${dtype})` });
  const weights = new TraceWeights({ graph, checkpoint, dtype, ...(options.edit === undefined ? {} : { edit: options.edit }) });
  const ops = new TraceOps(graph, {
    config,
    dtype,
    weights,
    kv: kvIo(options.kv ?? { kind: "present" }, config, dtype),
    attention: options.attention ?? "repeat-kv",
  });
  const logits = decoderForward(ops, config, buildDecoderWeights(config, (name) => weights.get(name)));
  ops.finish(logits);
  return graph;
}
