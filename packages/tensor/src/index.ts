/**
 * @oar/tensor: dtypes, the Tensor type, dtype conversion, safetensors I/O and
 * the WebAssembly SIMD kernels the eager model runs on.
 */
export * from "./dtype.js";
export * from "./tensor.js";
