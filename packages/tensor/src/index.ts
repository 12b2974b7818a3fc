/**
 * @oar/tensor: dtypes, the Tensor type, dtype conversion, checkpoint I/O
 * (safetensors, PyTorch's torch.save zip and PaddlePaddle's .pdparams, the
 * last two through an allow-list unpickler) and the WebAssembly SIMD kernels
 * the eager model runs on.
 */
export * from "./dtype.js";
export * from "./tensor.js";
export * from "./convert.js";
export { type CheckpointFormat, type OpenOptions, type TensorInfo, type TensorSource } from "./tensor-source.js";
export {
  type TensorPlan,
  type StreamingWriteOptions,
  openSafetensors,
  writeSafetensors,
  writeSafetensorsStreaming,
  safetensorsDtypeName,
} from "./safetensors.js";
export { openPytorch } from "./pytorch.js";
export { PADDLE_NAME_TABLE, openPdparams } from "./pdparams.js";
export { PickleError } from "./pickle.js";
export { type Checkpoint, describingBytes, openCheckpoint } from "./checkpoint.js";
export { type MappedTensor, mapTensors } from "./mapped-source.js";
export { argmax, maxRelativeError } from "./compare.js";
export * from "./kernels/index.js";
