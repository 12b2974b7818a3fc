/**
 * @oar/tensor: dtypes, the Tensor type, dtype conversion, safetensors I/O and
 * the WebAssembly SIMD kernels the eager model runs on.
 */
export * from "./dtype.js";
export * from "./tensor.js";
export * from "./convert.js";
export {
  type TensorInfo,
  type TensorSource,
  type TensorPlan,
  type StreamingWriteOptions,
  openSafetensors,
  writeSafetensors,
  writeSafetensorsStreaming,
  safetensorsDtypeName,
} from "./safetensors.js";
export { openCheckpoint } from "./checkpoint.js";
export { argmax, maxRelativeError } from "./compare.js";
export * from "./kernels/index.js";
