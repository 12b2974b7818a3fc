/**
 * `createServer(options)`: the OpenAI-compatible API on fastify, over one
 * continuous-batching engine. The server answers at once; the model loads
 * behind it (/health says 503 until it is ready), and `server.oar.loaded`
 * settles when loading does.
 *
 * Routes: GET /v1/models (and /v1/models/:model), POST /v1/chat/completions,
 * POST /v1/completions, GET /health, GET /metrics, POST /tokenize,
 * POST /detokenize, and the chat page at GET / (unless options.webui is
 * false). With an API key, /v1/* and the tokenizer routes need
 * `Authorization: Bearer KEY`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createEngine, type Engine } from "@oar/generation";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { pino } from "pino";
import { ApiError, invalidParam, serverError } from "./errors.js";
import { createMetrics } from "./metrics.js";
import { loadServedModel, type ServedModel } from "./model.js";
import { resolveOptions, type ResolvedOptions, type ServerOptions } from "./options.js";
import { canChat, chatJob, completionJob, encodeConversation, type ChatBody, type CompletionBody } from "./requests.js";
import { CHAT_SCHEMA, COMPLETION_SCHEMA, DETOKENIZE_SCHEMA, schemaError, TOKENIZE_SCHEMA, type SchemaError } from "./schemas.js";
import { serveJob } from "./serve-job.js";
import { serveWebui } from "./webui.js";

/** What the server adds to the fastify instance, as `server.oar`. */
export interface OarHandle {
  /** The options with every default applied. */
  readonly options: ResolvedOptions;
  /** Resolves when the model is loaded and requests are served; rejects with the load error (a UsageError for a mistake in the options). */
  readonly loaded: Promise<void>;
  /** The engine, once loaded. */
  engine(): Engine | null;
  /**
   * Graceful stop: refuse new requests (503), give those in flight
   * options.shutdownGraceMs to finish, abort the rest, close the listener
   * and free the model.
   */
  shutdown(): Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    readonly oar: OarHandle;
  }
}

/** Largest request body accepted (a prompt of tens of thousands of tokens fits). */
const BODY_LIMIT = 8 * 1024 * 1024;

/**
 * Builds the server (not listening yet: call `listen`), checks `options`
 * (throws a UsageError naming the flag), and starts loading the model.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const resolved = resolveOptions(options);
  const logOptions = resolved.log;
  const logger = logOptions === false ? pino({ enabled: false }) : pino({ level: logOptions?.level ?? "info" }, logOptions?.stream ?? process.stdout);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One log line per finished request is ours (serve-job.ts), not fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    // Keep-alive connections must not hold a shutdown open.
    forceCloseConnections: "idle",
  });

  let served: ServedModel | null = null;
  let engine: Engine | null = null;
  let stopping = false;
  const metrics = createMetrics(resolved.servedModelName, () => engine);
  const template = resolved.chatTemplate?.text ?? null;

  const loaded = (async () => {
    const started = performance.now();
    const model = await loadServedModel(resolved);
    if (stopping) {
      await model.model.dispose();
      return;
    }
    served = model;
    engine = createEngine(model.model, {
      batchSize: resolved.batchSize,
      maxQueue: resolved.maxQueue,
      eosTokenIds: model.eosTokenIds,
      kvCapacity: model.kvCapacity,
      createTextStream: () => model.tokenizer.streamDecoder({ skipSpecialTokens: true }),
    });
    app.log.info({ model: resolved.servedModelName, max_model_len: model.maxModelLen, batch_size: resolved.batchSize, load_s: round((performance.now() - started) / 1000) }, model.summary);
  })();
  loaded.catch(() => undefined);

  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const closing = app.close();
    // Once no response is being written, the connections left are keep-alive ones (some of which Node does
    // not count as idle before their first request): close them rather than wait out their timeouts.
    const sweep = setInterval(() => {
      if (responding === 0) app.server.closeAllConnections();
    }, 50);
    const timer = setTimeout(() => {
      engine?.abortAll();
      setTimeout(() => app.server.closeAllConnections(), 1000).unref();
    }, resolved.shutdownGraceMs);
    try {
      await closing;
    } finally {
      clearInterval(sweep);
      clearTimeout(timer);
      engine?.abortAll();
      await engine?.idle();
      await served?.model.dispose();
    }
  };
  app.decorate("oar", { options: resolved, loaded, engine: () => engine, shutdown } satisfies OarHandle);

  // Responses being written, streams included (hijacked replies skip fastify's onResponse).
  let responding = 0;
  app.addHook("onRequest", async (_request, reply) => {
    responding++;
    reply.raw.once("close", () => responding--);
  });

  // Requests are checked against the key.
  const keyDigest = resolved.apiKey === null ? null : digest(resolved.apiKey);
  app.addHook("onRequest", async (request) => {
    if (keyDigest !== null && needsKey(request.url)) {
      const header = request.headers.authorization ?? "";
      const given = /^Bearer (.+)$/i.exec(header)?.[1] ?? "";
      // Digests have one length, so the comparison takes the same time whatever the key given.
      if (!timingSafeEqual(digest(given), keyDigest)) {
        throw new ApiError(401, header === "" ? "You didn't provide an API key: send it as 'Authorization: Bearer KEY'." : "Incorrect API key provided.", { code: "invalid_api_key" });
      }
    }
  });
  const ready = (): { served: ServedModel; engine: Engine } => {
    if (stopping) throw new ApiError(503, "The server is shutting down.", { type: "service_unavailable" });
    if (served === null || engine === null) throw new ApiError(503, "The model is still loading; retry shortly.", { type: "service_unavailable", headers: { "retry-after": "1" } });
    return { served, engine };
  };
  const checkModel = (model: string | null | undefined): void => {
    if (model != null && model !== resolved.servedModelName) {
      throw new ApiError(404, `The model '${model}' does not exist; this server serves '${resolved.servedModelName}'.`, { param: "model", code: "model_not_found" });
    }
  };
  const logUnknown = (request: FastifyRequest, schema: { properties: object }): void => {
    const body = request.body as Record<string, unknown>;
    const unknown = Object.keys(body).filter((key) => !(key in schema.properties));
    if (unknown.length > 0) request.log.info({ url: request.url, fields: unknown }, "ignored unknown request fields");
  };

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    const api = toApiError(error);
    if (api.status >= 500) request.log.error({ err: error, url: request.url }, "request failed");
    for (const [name, value] of Object.entries(api.headers)) void reply.header(name, value);
    return reply.status(api.status).send(api.toJSON());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send(new ApiError(404, `Invalid URL (${request.method} ${request.url}).`, { code: "not_found" }).toJSON()),
  );

  app.get("/health", async (_request, reply) => {
    if (stopping) return reply.status(503).send({ status: "stopping" });
    return served === null ? reply.status(503).send({ status: "loading" }) : { status: "ok" };
  });
  app.get("/metrics", async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  const card = (): Record<string, unknown> => ({
    id: resolved.servedModelName,
    object: "model",
    created: startedAt,
    owned_by: "oar",
    root: resolved.modelDir,
    parent: null,
    max_model_len: served?.maxModelLen ?? null,
    // Oar's: whether /v1/chat/completions can serve this model (null while it loads); the chat page reads it.
    has_chat_template: served === null ? null : canChat(served, template),
  });
  const startedAt = Math.floor(Date.now() / 1000);
  app.get("/v1/models", async () => ({ object: "list", data: [card()] }));
  app.get<{ Params: { model: string } }>("/v1/models/:model", async (request) => {
    checkModel(request.params.model);
    return card();
  });

  app.post<{ Body: ChatBody }>("/v1/chat/completions", { schema: { body: CHAT_SCHEMA } }, async (request, reply) => {
    const arrival = performance.now();
    checkModel(request.body.model);
    const { served: model, engine: running } = ready();
    logUnknown(request, CHAT_SCHEMA);
    const job = chatJob(request.body, model, template);
    await serveJob({ engine: running, served: model, metrics, modelName: resolved.servedModelName, log: request.log, arrival }, "chat", job, reply);
  });
  app.post<{ Body: CompletionBody }>("/v1/completions", { schema: { body: COMPLETION_SCHEMA } }, async (request, reply) => {
    const arrival = performance.now();
    checkModel(request.body.model);
    const { served: model, engine: running } = ready();
    logUnknown(request, COMPLETION_SCHEMA);
    const job = completionJob(request.body, model);
    await serveJob({ engine: running, served: model, metrics, modelName: resolved.servedModelName, log: request.log, arrival }, "completion", job, reply);
  });

  app.post<{ Body: { model?: string | null; prompt?: string; messages?: ChatBody["messages"]; add_special_tokens?: boolean | null; add_generation_prompt?: boolean | null } }>(
    "/tokenize",
    { schema: { body: TOKENIZE_SCHEMA } },
    async (request) => {
      const body = request.body;
      checkModel(body.model);
      const { served: model } = ready();
      let tokens: number[];
      if (body.messages !== undefined && body.prompt === undefined) {
        tokens = encodeConversation(body.messages, model, template, body.add_generation_prompt ?? true);
      } else if (body.prompt !== undefined && body.messages === undefined) {
        tokens = model.tokenizer.encode(body.prompt, { addSpecialTokens: body.add_special_tokens ?? true });
      } else {
        throw invalidParam("prompt", "Give either 'prompt' or 'messages'.");
      }
      return { count: tokens.length, max_model_len: model.maxModelLen, tokens };
    },
  );
  app.post<{ Body: { model?: string | null; tokens: number[] } }>("/detokenize", { schema: { body: DETOKENIZE_SCHEMA } }, async (request) => {
    checkModel(request.body.model);
    const { served: model } = ready();
    for (const id of request.body.tokens) {
      if (id >= model.model.vocabSize) throw invalidParam("tokens", `Token id ${id} is outside the model's vocabulary (${model.model.vocabSize} ids).`);
    }
    return { prompt: model.tokenizer.decode(request.body.tokens) };
  });

  if (resolved.webui) serveWebui(app);
  return app;
}

/** /v1/* and the tokenizer routes need the key; /health and /metrics do not (probes and scrapers). */
function needsKey(url: string): boolean {
  return url.startsWith("/v1/") || url === "/v1" || url.startsWith("/tokenize") || url.startsWith("/detokenize");
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Any error as OpenAI's error: ours as they are, fastify's client errors (bad JSON, schema, size) as 4xx, the rest 500. */
function toApiError(error: FastifyError | ApiError): ApiError {
  if (error instanceof ApiError) return error;
  const validation = (error as FastifyError & { validation?: SchemaError[] }).validation;
  if (validation !== undefined && validation.length > 0) return schemaError(validation);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const message =
      error.code === "FST_ERR_CTP_INVALID_JSON_BODY" || error instanceof SyntaxError
        ? `We could not parse the JSON body of your request: ${error.message}`
        : error.message;
    return new ApiError(status, message, { code: error.code ?? null });
  }
  return serverError();
}

function round(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
