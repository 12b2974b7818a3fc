/**
 * @oar/modeling: decoder configs, weight loading, the one decoder definition
 * (written against `Ops`), the eager backend, KV caches and adapters.
 */
export * from "./config.js";
export * from "./ops.js";
export * from "./weights.js";
export * from "./decoder.js";
export * from "./rope.js";
