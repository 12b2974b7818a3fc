/**
 * @oar/server: an OpenAI-compatible HTTP server over the continuous-batching
 * engine of @oar/generation, serving a checkpoint (dynamic mode) or an
 * inference directory (static mode). `oar-server` is its command line.
 *
 * ```ts
 * import { createServer } from "@oar/server";
 * const server = createServer({ modelDir: "./Qwen2-0.5B-Instruct", batchSize: 8 });
 * await server.listen({ host: "127.0.0.1", port: 8011 });
 * await server.oar.loaded; // the model is ready; /health answers 200
 * // ... later
 * await server.oar.shutdown();
 * ```
 */
export { createServer, type OarHandle } from "./server.js";
export { resolveOptions, SERVER_DEFAULTS, type Device, type Mode, type ResolvedOptions, type ServerOptions } from "./options.js";
export { loadServedModel, type ServedModel } from "./model.js";
export { ApiError, type ErrorObject } from "./errors.js";
export { serverCli, parseServerArgs } from "./flags.js";
