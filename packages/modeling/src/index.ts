/**
 * @oar/modeling: decoder configs, weight loading, the one decoder definition
 * (written against `Ops`), the eager backend, KV caches and adapters.
 */
export * from "./config.js";
export * from "./ops.js";
export * from "./weights.js";
export * from "./weight-layout.js";
export * from "./decoder.js";
export * from "./rope.js";
export * from "./architectures/index.js";
export * from "./eager/kv-cache.js";
export * from "./eager/attention.js";
export * from "./eager/backend.js";
export * from "./eager/load-weights.js";
export * from "./eager/model.js";
export * from "./adapters/index.js";
