/**
 * @oar/export: the graph IR over ONNX (values with one producer and tracked
 * uses, nodes with typed op types and attributes, initializers that stay on
 * disk until written), its builders, verify(), reading and writing .onnx
 * files with external data, and the rule-based pass manager.
 */
export * from "./ir/shape.js";
export * from "./ir/ops.js";
export * from "./ir/attributes.js";
export * from "./ir/dtype.js";
export * from "./ir/initializer.js";
export * from "./ir/value.js";
export * from "./ir/node.js";
export * from "./ir/builder.js";
export * from "./ir/graph.js";
export * from "./ir/constant.js";
export * from "./ir/infer.js";
export * from "./ir/verify.js";
export * from "./ir/format.js";
export { readModel, OnnxFileError } from "./onnx/read.js";
export { writeModel, type WriteModelOptions, type WriteModelResult } from "./onnx/write.js";
export * from "./rewrite/pattern.js";
export * from "./rewrite/rule.js";
export * from "./rewrite/manager.js";
export { deadCodeElimination } from "./passes/dead-code.js";
export { removeIdentity, removeNoopReshape, removeNoopCast } from "./passes/identity.js";
export { constantFolding, type ConstantFoldingOptions } from "./passes/constant-folding.js";
export { commonSubexpressionElimination } from "./passes/cse.js";
export { cleanupPipeline } from "./passes/cleanup.js";
export * from "./trace/io.js";
export { siteScope } from "./trace/names.js";
export { TraceOps, type AttentionForm, type DecoderInputs, type TraceOpsOptions } from "./trace/backend.js";
export { TraceWeights, convertedSource, transposedSource, type LinearOperands, type MergedEdit } from "./trace/weights.js";
export { traceDecoder, type TraceOptions } from "./trace/trace.js";
export * from "./trace/kv-io.js";
export { exportModel, type ExportOptions, type ExportReport } from "./export.js";
export * from "./inference-dir/manifest.js";
export { OutputDirError } from "./inference-dir/output-dir.js";
export { PREFIX_FILE } from "./inference-dir/prefix.js";
export {
  type FusionOptions,
  fusionPipelines,
  type RotaryOptions,
  type AttentionConvention,
  ATTENTION_METADATA_KEY,
  rmsNormRule,
  skipRmsNormRule,
  rotaryRule,
  groupQueryAttentionRule,
  attentionPresentRule,
  attentionMetadataPass,
  qkvMergeRule,
  gateUpMergeRule,
  qkvBiasMergeRule,
  gateUpBiasMergeRule,
  siluRule,
} from "./passes/fusion/index.js";
export {
  type QuantizationOptions,
  type BlockQuantSpec,
  type QuantBits,
  type MatMulNBitsOptions,
  type GatherBlockQuantizedOptions,
  DEFAULT_ACCURACY_LEVEL,
  quantizationPipelines,
  matMulNBitsRule,
  gatherBlockQuantizedRule,
  dynamicQuantizeMatMulRule,
} from "./passes/quant/index.js";
