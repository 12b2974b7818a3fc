/**
 * Runs one request's job on the engine and answers it: one JSON object, or
 * a server-sent event stream of chunks (the role first for chat, text as it
 * is decoded, exactly one chunk with the finish reason per choice, the
 * usage chunk with include_usage, then `data: [DONE]`). A client that goes
 * away aborts every choice at once; a failure inside the stream becomes a
 * `data: {"error": ...}` event before `[DONE]`. Metrics and the request's
 * log line are written when it ends.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { QueueFullError, type Engine, type EngineEvent, type EngineRequest, type GenerationResult, type TokenLogprobs } from "@oar/generation";
import type { FastifyBaseLogger, FastifyReply } from "fastify";
import { ApiError, serverError } from "./errors.js";
import type { ServerMetrics } from "./metrics.js";
import type { ServedModel } from "./model.js";
import type { Job } from "./requests.js";
import {
  apiFinishReason,
  chunkChoice,
  chunkObject,
  formatLogprobs,
  fullChoice,
  responseObject,
  usage,
  type ApiFinishReason,
  type Endpoint,
  type ResponseHead,
} from "./responses.js";

export interface JobContext {
  readonly engine: Engine;
  readonly served: ServedModel;
  readonly metrics: ServerMetrics;
  readonly modelName: string;
  readonly log: FastifyBaseLogger;
  /** When the request arrived (performance.now()). */
  readonly arrival: number;
}

/** One choice while it runs. */
interface Choice {
  readonly index: number;
  firstTokenAt: number | null;
  lastTokenAt: number;
  /** Text streamed so far (completions' logprobs text_offset). */
  streamed: number;
}

/** Seconds between a submission with a seconds-long wait and a 429's retry. */
const RETRY_AFTER_S = 1;

export async function serveJob(ctx: JobContext, endpoint: Endpoint, job: Job, reply: FastifyReply): Promise<void> {
  const head: ResponseHead = { id: `${endpoint === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID().replaceAll("-", "")}`, created: Math.floor(Date.now() / 1000), model: ctx.modelName };
  const choices: Choice[] = [];
  const stream = job.stream ? new EventStream(reply.raw) : null;
  const requests: EngineRequest[] = [];
  job.prompts.forEach((tokens, p) => {
    for (let j = 0; j < job.n; j++) {
      const choice: Choice = { index: p * job.n + j, firstTokenAt: null, lastTokenAt: 0, streamed: 0 };
      choices.push(choice);
      requests.push({ ...job.sampling, tokens, maxNewTokens: job.maxTokens[p]!, rngStream: choice.index, onEvent: (event) => onEvent(choice, event) });
    }
  });

  const onEvent = (choice: Choice, event: EngineEvent): void => {
    const now = performance.now();
    if (event.type === "token") {
      if (choice.firstTokenAt === null) {
        choice.firstTokenAt = now;
        ctx.metrics.timeToFirstToken.observe((now - ctx.arrival) / 1000);
      } else {
        ctx.metrics.interTokenLatency.observe((now - choice.lastTokenAt) / 1000);
      }
      choice.lastTokenAt = now;
      if (stream === null || (event.text === "" && event.logprobs === undefined)) return;
      const logprobs = event.logprobs === undefined ? null : formatLogprobs(endpoint, [event.logprobs], ctx.served.tokenizer, choice.streamed);
      choice.streamed += event.text.length;
      stream.send(chunkObject(endpoint, head, [chunkChoice(endpoint, choice.index, { text: event.text }, null, logprobs)], job.includeUsage ? null : undefined));
      return;
    }
    const result = event.result;
    ctx.metrics.queueTime.observe(result.timing.queuedMs / 1000);
    ctx.metrics.generationTokens.inc(completionTokens(result));
    ctx.metrics.requestSuccess.inc({ finished_reason: apiFinishReason(result.finishReason) });
    const tail = endpoint === "chat" && event.text === "" ? {} : { text: event.text };
    stream?.send(chunkObject(endpoint, head, [chunkChoice(endpoint, choice.index, tail, apiFinishReason(result.finishReason), null)], job.includeUsage ? null : undefined));
  };

  let handles;
  try {
    handles = ctx.engine.submitAll(requests);
  } catch (e) {
    if (e instanceof QueueFullError) {
      throw new ApiError(429, `The server is busy: ${e.message}.`, { type: "rate_limit_error", code: "rate_limit_exceeded", headers: { "retry-after": String(RETRY_AFTER_S) } });
    }
    // The checks before submission should have caught it: still the request's fault, not the server's.
    throw new ApiError(400, (e as Error).message);
  }
  const abortAll = (): void => handles.forEach((h) => h.abort());
  // A client that closes the connection before the answer is complete has gone away.
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) abortAll();
  });

  if (stream !== null) {
    reply.hijack();
    stream.open();
    if (endpoint === "chat") {
      for (const choice of choices) stream.send(chunkObject(endpoint, head, [chunkChoice(endpoint, choice.index, { role: "assistant", text: "" }, null, null)], job.includeUsage ? null : undefined));
    }
  }
  const settled = await Promise.allSettled(handles.map((h) => h.result));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  const results = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const promptTokens = job.prompts.reduce((sum, p) => sum + p.length, 0);
  const cachedTokens = results.filter((_, i) => i % job.n === 0).reduce((sum, r) => sum + r.cachedTokens, 0);
  const completion = results.reduce((sum, r) => sum + completionTokens(r), 0);
  const u = usage(promptTokens, completion, cachedTokens);
  ctx.metrics.promptTokens.inc(promptTokens);
  ctx.metrics.e2eLatency.observe((performance.now() - ctx.arrival) / 1000);
  logFinished(ctx, head.id, u, choices, settled.map((s) => (s.status === "fulfilled" ? apiFinishReason(s.value.finishReason) : "error")));

  if (failed !== undefined) {
    abortAll();
    ctx.log.error({ err: failed.reason, request_id: head.id }, "generation failed");
    if (stream === null) throw serverError();
    stream.send(serverError().toJSON());
    stream.close();
    return;
  }
  if (stream !== null) {
    if (job.includeUsage) stream.send(chunkObject(endpoint, head, [], u));
    stream.close();
    return;
  }
  const body = responseObject(
    endpoint,
    head,
    results.map((r, i) => fullChoice(endpoint, i, r.text, apiFinishReason(r.finishReason), logprobsOf(endpoint, r.logprobs, ctx.served))),
    u,
  );
  await reply.send(body);
}

function logprobsOf(endpoint: Endpoint, entries: readonly TokenLogprobs[] | null, served: ServedModel): unknown {
  return entries === null ? null : formatLogprobs(endpoint, entries, served.tokenizer, 0);
}

/** Tokens generated, the EOS that ended a choice included (as vLLM and OpenAI count them). */
function completionTokens(result: GenerationResult): number {
  return result.tokens.length + (result.finishReason === "eos" ? 1 : 0);
}

function logFinished(ctx: JobContext, id: string, u: ReturnType<typeof usage>, choices: readonly Choice[], reasons: readonly (ApiFinishReason | "error")[]): void {
  const first = Math.min(...choices.map((c) => c.firstTokenAt ?? Infinity));
  ctx.log.info(
    {
      request_id: id,
      prompt_tokens: u.prompt_tokens,
      completion_tokens: u.completion_tokens,
      cached_tokens: u.prompt_tokens_details.cached_tokens,
      ttft_s: Number.isFinite(first) ? round((first - ctx.arrival) / 1000) : null,
      duration_s: round((performance.now() - ctx.arrival) / 1000),
      finish_reason: reasons.length === 1 ? reasons[0] : reasons,
    },
    "request finished",
  );
}

function round(seconds: number): number {
  return Math.round(seconds * 1e4) / 1e4;
}

/** Server-sent events on a raw response; writes after the client left are dropped. */
class EventStream {
  readonly #raw: ServerResponse;
  constructor(raw: ServerResponse) {
    this.#raw = raw;
  }

  open(): void {
    this.#raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" });
  }

  send(data: unknown): void {
    if (!this.#raw.destroyed && !this.#raw.writableEnded) this.#raw.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    if (!this.#raw.destroyed && !this.#raw.writableEnded) this.#raw.end("data: [DONE]\n\n");
  }
}
