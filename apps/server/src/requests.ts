/**
 * From a validated request body (schemas.ts) to what the engine runs: the
 * prompts' token ids, each choice's sampling options, the limits checked
 * against max_model_len before any work. Everything a client can get wrong
 * here is a 400 naming the field.
 */
import { randomInt } from "node:crypto";
import type { SamplingOptions } from "@oar/generation";
import type { ChatMessage } from "@oar/tokenizer";
import { ApiError, invalidParam } from "./errors.js";
import type { ServedModel } from "./model.js";

/** The fields both generation endpoints read. */
export interface SamplingBody {
  readonly model?: string | null;
  readonly max_tokens?: number | null;
  readonly temperature?: number | null;
  readonly top_p?: number | null;
  readonly top_k?: number | null;
  readonly min_p?: number | null;
  readonly presence_penalty?: number | null;
  readonly frequency_penalty?: number | null;
  readonly repetition_penalty?: number | null;
  readonly seed?: number | null;
  readonly stop?: string | readonly string[] | null;
  readonly n?: number | null;
  readonly stream?: boolean | null;
  readonly stream_options?: { readonly include_usage?: boolean | null } | null;
  readonly ignore_eos?: boolean | null;
}

export interface ChatBody extends SamplingBody {
  readonly messages: readonly { readonly role: string; readonly content?: string | readonly { readonly type: "text"; readonly text: string }[] | null }[];
  readonly max_completion_tokens?: number | null;
  readonly logprobs?: boolean | null;
  readonly top_logprobs?: number | null;
}

export interface CompletionBody extends SamplingBody {
  readonly prompt: string | readonly string[] | readonly number[] | readonly (readonly number[])[];
  readonly logprobs?: number | null;
}

/** One request's work: its prompts, the options every choice shares, and how to answer. */
export interface Job {
  /** Token ids of each prompt (chat: one). */
  readonly prompts: readonly (readonly number[])[];
  /** Choices per prompt. */
  readonly n: number;
  /** Max new tokens of each prompt. */
  readonly maxTokens: readonly number[];
  /** Options of every choice, but for maxNewTokens and rngStream. */
  readonly sampling: Omit<SamplingOptions, "maxNewTokens" | "rngStream">;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

/** vLLM treats temperatures below this as greedy. */
const GREEDY_BELOW = 1e-5;
/** OpenAI's default max_tokens for completions (chat defaults to the room left). */
const COMPLETION_MAX_TOKENS = 16;

/** The sampling options and flags of a body, checked across fields. */
function sampling(body: SamplingBody, logprobs: number | null): Pick<Job, "sampling" | "n" | "stream" | "includeUsage"> {
  const stream = body.stream ?? false;
  if (body.stream_options != null && !stream) throw invalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true.");
  const temperature = body.temperature ?? 1;
  const greedy = temperature < GREEDY_BELOW;
  const stop = body.stop ?? [];
  const topK = body.top_k ?? 0;
  return {
    n: body.n ?? 1,
    stream,
    includeUsage: stream && (body.stream_options?.include_usage ?? false),
    sampling: {
      decodeStrategy: greedy ? "greedy_search" : "sampling",
      ...(greedy ? {} : { temperature }),
      topP: body.top_p ?? 1,
      topK: topK < 0 ? 0 : topK,
      minP: body.min_p ?? 0,
      presencePenalty: body.presence_penalty ?? 0,
      frequencyPenalty: body.frequency_penalty ?? 0,
      repetitionPenalty: body.repetition_penalty ?? 1,
      // Without a seed each request samples anew, as OpenAI's API does.
      seed: body.seed ?? randomInt(2 ** 47),
      stopStrings: typeof stop === "string" ? [stop] : stop,
      ignoreEos: body.ignore_eos ?? false,
      ...(logprobs === null ? {} : { logprobs }),
    },
  };
}

/** A chat request's job: the conversation through the chat template. */
export function chatJob(body: ChatBody, served: ServedModel, template: string | null): Job {
  if (body.top_logprobs != null && body.logprobs !== true) throw invalidParam("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.");
  const logprobs = body.logprobs === true ? (body.top_logprobs ?? 0) : null;
  const tokens = encodeConversation(body.messages, served, template, true);
  const requested = body.max_completion_tokens ?? body.max_tokens ?? null;
  return { prompts: [tokens], maxTokens: [maxTokens(tokens.length, requested, null, served.maxModelLen, "messages")], ...sampling(body, logprobs) };
}

/** A conversation's prompt ids through the chat template (--chat_template's, else the tokenizer's). */
export function encodeConversation(messages: ChatBody["messages"], served: ServedModel, template: string | null, addGenerationPrompt: boolean): number[] {
  const conversation: ChatMessage[] = messages.map((m) => ({
    role: m.role,
    content: typeof m.content === "string" ? m.content : (m.content ?? []).map((part) => part.text).join("\n"),
  }));
  if (!canChat(served, template)) {
    throw invalidParam("messages", "This model has no chat template, so it cannot take messages; use /v1/completions with a prompt, or start the server with --chat_template FILE.");
  }
  try {
    return served.tokenizer.encodeChat(conversation, { addGenerationPrompt, ...(template === null ? {} : { template }) });
  } catch (e) {
    // A template's own raise_exception (roles must alternate ...) is the client's mistake.
    throw invalidParam("messages", `The chat template refused the messages: ${(e as Error).message.replace(/^options\.template: /, "")}`);
  }
}

/** Whether the model takes messages: a chat template (--chat_template's or the tokenizer's) or a family's own chat format. */
export function canChat(served: ServedModel, template: string | null): boolean {
  return template !== null || served.tokenizer.chatFormat !== null;
}

/** A completion request's job: each prompt as text (encoded with the tokenizer's special tokens) or as token ids. */
export function completionJob(body: CompletionBody, served: ServedModel): Job {
  const { prompt } = body;
  const prompts: readonly (readonly number[])[] =
    typeof prompt === "string"
      ? [served.tokenizer.encode(prompt)]
      : prompt.every((p) => typeof p === "string")
        ? (prompt as readonly string[]).map((p) => served.tokenizer.encode(p))
        : prompt.every((p) => typeof p === "number")
          ? [prompt as readonly number[]]
          : (prompt as readonly (readonly number[])[]);
  prompts.forEach((ids, i) => {
    if (ids.length === 0) throw invalidParam("prompt", `Prompt ${i} is empty: it needs at least one token.`);
    for (const id of ids) {
      if (id >= served.model.vocabSize) throw invalidParam("prompt", `Token id ${id} is outside the model's vocabulary (${served.model.vocabSize} ids).`);
    }
  });
  const requested = body.max_tokens ?? null;
  return {
    prompts,
    maxTokens: prompts.map((ids) => maxTokens(ids.length, requested, COMPLETION_MAX_TOKENS, served.maxModelLen, "prompt")),
    ...sampling(body, body.logprobs ?? null),
  };
}

/**
 * Max new tokens of a prompt: the request's, refused when prompt plus it pass
 * max_model_len; without one, the default (lowered to fit) or all the room.
 */
function maxTokens(promptTokens: number, requested: number | null, fallback: number | null, maxModelLen: number, param: "messages" | "prompt"): number {
  const room = maxModelLen - promptTokens;
  const what = param === "messages" ? "messages" : "prompt";
  if (requested !== null ? requested > room : room < 1) {
    const asked = requested ?? 1;
    throw new ApiError(
      400,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + asked} tokens ` +
        `(${promptTokens} in the ${what}, ${asked} in the completion). Please reduce the length of the ${what} or completion.`,
      { param, code: "context_length_exceeded" },
    );
  }
  return requested ?? Math.min(fallback ?? room, room);
}
