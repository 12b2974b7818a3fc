/**
 * The response objects in OpenAI's shapes: `chat.completion`,
 * `chat.completion.chunk`, `text_completion` (whole and streamed), usage,
 * and the two logprobs layouts (chat's `content` list, completions' parallel
 * lists).
 */
import type { TokenLogprobs } from "@oar/generation";
import type { FinishReason } from "@oar/generation";
import type { OarTokenizer } from "@oar/tokenizer";

export type Endpoint = "chat" | "completion";

/** OpenAI's finish reasons: an EOS id and a stop string are both "stop". */
export type ApiFinishReason = "stop" | "length" | "abort";

export function apiFinishReason(reason: FinishReason): ApiFinishReason {
  switch (reason) {
    case "eos":
    case "stop":
      return "stop";
    case "length":
      return "length";
    case "abort":
      return "abort";
    default: {
      const unknown: never = reason;
      throw new Error(`unknown finish reason ${String(unknown)}`);
    }
  }
}

export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

/** What identifies one response: its id, creation time (seconds) and model name, the same on every chunk. */
export interface ResponseHead {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** Per-token logprobs in the endpoint's layout; `offset` is the text length before the first of them (completions' text_offset). */
export function formatLogprobs(endpoint: Endpoint, entries: readonly TokenLogprobs[], tokenizer: OarTokenizer, offset: number): unknown {
  const text = (id: number): string => tokenizer.decode([id], { skipSpecialTokens: false });
  if (endpoint === "chat") {
    const one = (tokenId: number, logprob: number): { token: string; logprob: number; bytes: number[] } => {
      const token = text(tokenId);
      return { token, logprob: finite(logprob), bytes: [...Buffer.from(token, "utf8")] };
    };
    return { content: entries.map((e) => ({ ...one(e.tokenId, e.logprob), top_logprobs: e.top.map((t) => one(t.tokenId, t.logprob)) })) };
  }
  const tokens = entries.map((e) => text(e.tokenId));
  const textOffset: number[] = [];
  let at = offset;
  for (const token of tokens) {
    textOffset.push(at);
    at += token.length;
  }
  return {
    tokens,
    token_logprobs: entries.map((e) => finite(e.logprob)),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top.map((t) => [text(t.tokenId), finite(t.logprob)]))),
    text_offset: textOffset,
  };
}

/** JSON has no -Infinity; OpenAI's API reports -9999 for an impossible token. */
function finite(logprob: number): number {
  return Number.isFinite(logprob) ? logprob : -9999;
}

/** One choice of a whole response. */
export function fullChoice(endpoint: Endpoint, index: number, text: string, finishReason: ApiFinishReason, logprobs: unknown): unknown {
  return endpoint === "chat"
    ? { index, message: { role: "assistant", content: text }, logprobs, finish_reason: finishReason }
    : { index, text, logprobs, finish_reason: finishReason };
}

/** One choice of a chunk: new text, and the finish reason on its last chunk. */
export function chunkChoice(
  endpoint: Endpoint,
  index: number,
  delta: { readonly role?: "assistant"; readonly text?: string },
  finishReason: ApiFinishReason | null,
  logprobs: unknown,
): unknown {
  if (endpoint === "completion") return { index, text: delta.text ?? "", logprobs, finish_reason: finishReason };
  const d: Record<string, string> = {};
  if (delta.role !== undefined) d["role"] = delta.role;
  if (delta.text !== undefined) d["content"] = delta.text;
  return { index, delta: d, logprobs, finish_reason: finishReason };
}

export function responseObject(endpoint: Endpoint, head: ResponseHead, choices: readonly unknown[], u: Usage): unknown {
  return { ...head, object: endpoint === "chat" ? "chat.completion" : "text_completion", choices, usage: u, system_fingerprint: null };
}

/** A chunk; with include_usage every chunk has `usage: null` but the last, which has the usage and no choices. */
export function chunkObject(endpoint: Endpoint, head: ResponseHead, choices: readonly unknown[], u: Usage | null | undefined): unknown {
  const chunk: Record<string, unknown> = { ...head, object: endpoint === "chat" ? "chat.completion.chunk" : "text_completion", choices, system_fingerprint: null };
  if (u !== undefined) chunk["usage"] = u;
  return chunk;
}
