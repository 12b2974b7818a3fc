/**
 * Completing a fixed list of prompts (the predictor's batch run): the
 * continuous-batching engine of ./engine.ts with every prompt submitted at
 * once, in input order, under the same options. See engine.ts for how steps
 * admit, prefill and decode.
 */
import type { CausalLM } from "./causal-lm.js";
import type { DecodingOptions } from "./decoding.js";
import { createEngine, type EngineEvent, type GenerationResult, type RequestHandle, type StepRecord } from "./engine.js";
import { createStopStringMatcher } from "./stop-strings.js";
import { createStoppingCriteria, type FinishReason, type StoppingOptions } from "./stopping.js";
import type { TextStream } from "./text-stream.js";

/** One prompt to complete. */
export interface GenerationRequest {
  /** Prompt token ids (templated and truncated already); at least one. */
  readonly tokens: readonly number[];
  /** This request's max new tokens, in place of options.maxNewTokens. */
  readonly maxNewTokens?: number;
  /**
   * The stream of options.seed this request samples from (default: its index
   * in the request list). A run over part of a data file (`--resume`) passes
   * each prompt's index in the whole file, so it samples what a full run would.
   */
  readonly rngStream?: number;
}

/** What each token or finish of a request streams out. */
export type StreamEvent =
  | {
      readonly type: "token";
      /** Index of the request in the input list. */
      readonly request: number;
      readonly tokenId: number;
      /** Text this token completed; "" while a character or a possible stop string is incomplete. */
      readonly text: string;
    }
  | {
      readonly type: "end";
      readonly request: number;
      /** The text still held back at the end (the text stream's flush). */
      readonly text: string;
      readonly finishReason: FinishReason;
    };

export type { GenerationResult, RequestTiming, SlotActivity, StepRecord } from "./engine.js";

/** Options of `generate` (one prompt). */
export interface GenerateOptions extends DecodingOptions, StoppingOptions {
  /**
   * Stop when the text contains one of these; the text ends just before it
   * (the tokens keep the one that completed it). Needs createTextStream.
   */
  readonly stopStrings?: readonly string[];
  /**
   * A fresh text stream for each request, e.g.
   * `() => tokenizer.streamDecoder({ skipSpecialTokens: true })`. Without
   * it, results have tokens and empty text.
   */
  readonly createTextStream?: () => TextStream;
  /** Each new token of each request, then its end. */
  readonly onStream?: (event: StreamEvent) => void;
  /** Each request's result, the moment it finishes (completion order). */
  readonly onResult?: (result: GenerationResult) => void;
}

/** Options of `generateBatch`. */
export interface BatchOptions extends GenerateOptions {
  /** Slots: sequences in flight at once (PaddleNLP's `--batch_size`). Default 1. */
  readonly batchSize?: number;
}

/** Everything a run produced. */
export interface BatchRun {
  /** One per request, in input order. */
  readonly results: readonly GenerationResult[];
  readonly steps: readonly StepRecord[];
  readonly batchSize: number;
  readonly wallMs: number;
}

/**
 * Completes every request on `model`, `options.batchSize` at a time, with
 * continuous batching. Results come to `options.onResult` as requests
 * finish, and in input order in the returned run. Everything is validated
 * before the first forward call. If a forward call or a callback throws,
 * every request is stopped, every sequence released, and the promise
 * rejects (a model failure names the step and the requests in flight, with
 * the original error as its `cause`).
 *
 * Prompts longer than the model allows: a prompt that leaves no room for one
 * new token in `model.maxPositions` (prefix included) is an error, since the
 * tokenizer should have cut it to src_length; otherwise max new tokens is
 * lowered to fit, and the result says so (`clamped`).
 */
export async function generateBatch(
  model: CausalLM,
  requests: readonly GenerationRequest[],
  options: BatchOptions,
): Promise<BatchRun> {
  const start = performance.now();
  const steps: StepRecord[] = [];
  const engine = createEngine(model, {
    batchSize: options.batchSize ?? 1,
    eosTokenIds: options.eosTokenIds ?? [],
    ...(options.createTextStream === undefined ? {} : { createTextStream: options.createTextStream }),
    onStep: (step) => steps.push(step),
  });
  createStopStringMatcher(options.stopStrings ?? []); // throws on an empty stop string
  createStoppingCriteria(options); // throws on a bad maxNewTokens, even if every request overrides it
  // After a failure no callback runs again; the first error is the run's.
  let failure: { error: unknown } | null = null;
  const onEvent = (event: EngineEvent): void => {
    if (failure !== null) return;
    try {
      deliver(event, options);
    } catch (error) {
      failure = { error };
      throw error;
    }
  };
  const handles: RequestHandle[] = [];
  try {
    requests.forEach((request, index) => {
      handles.push(
        engine.submit({
          ...decodingOptions(options),
          tokens: request.tokens,
          maxNewTokens: request.maxNewTokens ?? options.maxNewTokens,
          ignoreEos: options.ignoreEos ?? false,
          stopStrings: options.stopStrings ?? [],
          rngStream: request.rngStream ?? index,
          onEvent,
        }),
      );
    });
  } catch (error) {
    engine.abortAll();
    throw error;
  }
  try {
    const results = await Promise.all(handles.map((handle) => handle.result));
    return { results, steps, batchSize: engine.batchSize, wallMs: performance.now() - start };
  } catch (error) {
    failure ??= { error };
    engine.abortAll();
    await engine.idle();
    throw failure.error;
  }
}

function decodingOptions(options: DecodingOptions): DecodingOptions {
  const { decodeStrategy, temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, seed } = options;
  return { decodeStrategy, temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, seed };
}

/** An engine event as the run's callbacks take it. */
function deliver(event: EngineEvent, options: GenerateOptions): void {
  switch (event.type) {
    case "token":
      options.onStream?.({ type: "token", request: event.request, tokenId: event.tokenId, text: event.text });
      return;
    case "end":
      options.onStream?.({ type: "end", request: event.request, text: event.text, finishReason: event.finishReason });
      options.onResult?.(event.result);
      return;
    default: {
      const unknown: never = event;
      throw new Error(`unknown engine event ${JSON.stringify(unknown)}`);
    }
  }
}
