/** WebAssembly SIMD matmul kernels on a worker pool sharing memory (see pool.ts and kernels.wat). */
export { type WeightFormat, type WeightSpec } from "./format.js";
export { type ComputePool, type DeviceBuffer, type DeviceWeight, type PoolOptions, createComputePool } from "./pool.js";
export type { KernelVariant } from "./wasm.js";
export { type AttentionSequence, type AttentionShape, type KvSegment, attentionReference } from "./attention.js";
export { type HostWeight, matmulReference } from "./reference.js";
