/**
 * The page's calls to oar-server: the model card (/v1/models), a streamed
 * chat or text completion (SSE), and /tokenize. Every call sends the API key
 * when one is set; a failure is an ApiError with the server's own message.
 */
import { eventData } from "./sse.ts";

/** What the page needs of the served model. */
export interface ModelInfo {
  readonly id: string;
  /** Prompt plus completion tokens a request may hold; null when the server does not say. */
  readonly maxModelLen: number | null;
  /** False when the model has no chat template: only /v1/completions serves it (oar-server's card says; another server's is taken as chat). */
  readonly hasChatTemplate: boolean;
}

/** A request that failed: the HTTP status (0 when there was no response) and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** How a streamed reply ended. */
export interface StreamEnd {
  /** The choice's finish_reason ("stop", "length"). */
  readonly finishReason: string | null;
  /** usage.completion_tokens of the last chunk. */
  readonly completionTokens: number | null;
}

export type GenerationRoute = "/v1/chat/completions" | "/v1/completions";

function headers(apiKey: string, json: boolean): Record<string, string> {
  return { ...(apiKey === "" ? {} : { authorization: `Bearer ${apiKey}` }), ...(json ? { "content-type": "application/json" } : {}) };
}

/** The served model's card. */
export async function fetchModel(apiKey: string): Promise<ModelInfo> {
  const response = await request("/v1/models", { headers: headers(apiKey, false) });
  const body = (await response.json()) as { data?: { id?: unknown; max_model_len?: unknown; has_chat_template?: unknown }[] };
  const card = body.data?.[0];
  if (card === undefined || typeof card.id !== "string") throw new ApiError(response.status, "The server's /v1/models lists no model.");
  // oar-server says null until the model is loaded.
  if (card.has_chat_template === null) throw new ApiError(503, "The model is still loading.");
  return {
    id: card.id,
    maxModelLen: typeof card.max_model_len === "number" ? card.max_model_len : null,
    hasChatTemplate: card.has_chat_template !== false,
  };
}

/** How many tokens `prompt` is (for the room a completion has). */
export async function countTokens(apiKey: string, model: string, prompt: string, signal: AbortSignal): Promise<number> {
  const response = await request("/tokenize", { method: "POST", headers: headers(apiKey, true), body: JSON.stringify({ model, prompt }), signal });
  const body = (await response.json()) as { count?: unknown };
  if (typeof body.count !== "number") throw new ApiError(response.status, "The server's /tokenize gave no count.");
  return body.count;
}

/**
 * POSTs `body` to `route` as a stream and hands each piece of text to
 * `onText` as it comes; resolves at `[DONE]`. Aborting `signal` closes the
 * connection, which tells the server to stop and free the slot.
 */
export async function streamText(route: GenerationRoute, apiKey: string, body: Record<string, unknown>, signal: AbortSignal, onText: (text: string) => void): Promise<StreamEnd> {
  const response = await request(route, {
    method: "POST",
    headers: headers(apiKey, true),
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (response.body === null) throw new ApiError(response.status, "The server sent no stream.");
  let finishReason: string | null = null;
  let completionTokens: number | null = null;
  for await (const data of eventData(response.body)) {
    if (data === "[DONE]") return { finishReason, completionTokens };
    const chunk = JSON.parse(data) as {
      error?: { message?: string };
      choices?: { delta?: { content?: string | null }; text?: string; finish_reason?: string | null }[];
      usage?: { completion_tokens?: number } | null;
    };
    if (chunk.error !== undefined) throw new ApiError(response.status, chunk.error.message ?? "The server failed during the reply.");
    const choice = chunk.choices?.[0];
    if (choice !== undefined) {
      const text = route === "/v1/chat/completions" ? choice.delta?.content : choice.text;
      if (typeof text === "string" && text !== "") onText(text);
      if (typeof choice.finish_reason === "string") finishReason = choice.finish_reason;
    }
    if (typeof chunk.usage?.completion_tokens === "number") completionTokens = chunk.usage.completion_tokens;
  }
  throw new ApiError(response.status, "The stream ended before it was complete: the server closed the connection.");
}

/** fetch, with a failed status turned into an ApiError carrying OpenAI's error message. */
async function request(url: string, init: RequestInit): Promise<Response> {
  const response = await fetch(url, init);
  if (response.ok) return response;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { message?: unknown } };
    if (typeof body.error?.message === "string") message = body.error.message;
  } catch {
    // Not OpenAI's error object: the status line says enough.
  }
  throw new ApiError(response.status, message);
}
