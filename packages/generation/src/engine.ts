/**
 * The continuous-batching engine (PaddleNLP's "dynamic insertion", vLLM's
 * scheduler), online: requests are submitted at any time, each with its own
 * sampling options, and stream their tokens as they are chosen.
 *
 * `batchSize` slots each hold one sequence in flight. Submitted requests
 * wait in a FIFO queue (at most `maxQueue` of them). While there is work,
 * the engine runs steps, yielding to the event loop between them:
 *
 * 1. admission: every free slot, lowest first, takes the next waiting
 *    request, if the model can give it cache memory for prompt + max new
 *    tokens; if not, the request (and every request behind it: the queue
 *    stays FIFO) waits until a sequence finishes and frees memory;
 * 2. prefill: the requests admitted this step run in one `model.forward`
 *    call of their own, and each gets its first new token;
 * 3. decode: the sequences admitted earlier run in a second call, one token
 *    each.
 *
 * A sequence that finishes (EOS, its max new tokens, a stop string) or is
 * aborted is released at once and its slot refilled at the next step, so no
 * slot waits for the longest sequence of a batch. Prefill and decode are
 * separate calls because a batched forward pads its rows to the longest one:
 * a 1-token decode row beside a 500-token prompt would pay for 500 positions.
 *
 * Every request draws from its own random stream and its logits row depends
 * only on its own tokens, so what a request generates does not depend on
 * what else runs beside it (greedy bit for bit; sampling per seed and stream).
 *
 * Where prefix caching hooks in: admission (`allocate` below) is the one
 * place a sequence is created. A model that shares cached blocks of a prompt
 * prefix returns a sequence whose `length` already counts the shared
 * positions; the prefill step then feeds only `tokens.slice(seq.length -
 * prefixLength)`, and the result's `cachedTokens` reports them.
 */
import type { CausalLM, ForwardStep, Sequence } from "./causal-lm.js";
import { createLogitsProcessor, createSampler, type DecodingOptions } from "./decoding.js";
import { composeProcessors, type LogitsProcessor } from "./logits-processor.js";
import { tokenLogprobs, type TokenLogprobs } from "./logprobs.js";
import { createRng, type Rng } from "./rng.js";
import type { Sampler } from "./samplers.js";
import { createStopStringMatcher, type StopStringMatcher } from "./stop-strings.js";
import { createStoppingCriteria, type FinishReason, type StoppingCriteria } from "./stopping.js";
import type { TextStream } from "./text-stream.js";

/** Settings of an engine, shared by every request. */
export interface EngineOptions {
  /** Slots: sequences in flight at once (PaddleNLP's `--batch_size`). Default 1. */
  readonly batchSize?: number;
  /** Requests that may wait for a slot; `submit` throws a QueueFullError past it. Default: no limit. */
  readonly maxQueue?: number;
  /**
   * Every id that ends a sequence: the tokenizer's eos plus generation_config's
   * list (Qwen2-Instruct: 151645 `<|im_end|>` and 151643 `<|endoftext|>`).
   */
  readonly eosTokenIds?: readonly number[];
  /**
   * A fresh text stream for each request, e.g.
   * `() => tokenizer.streamDecoder({ skipSpecialTokens: true })`. Without it,
   * results have tokens and empty text, and stop strings cannot be used.
   */
  readonly createTextStream?: () => TextStream;
  /**
   * KV positions the model's cache holds, all sequences together, for
   * `cacheUsage` (default: batchSize sequences of model.maxPositions). An
   * app that sizes the pool itself passes what it asked for.
   */
  readonly kvCapacity?: number;
  /** Each step, after it ran. */
  readonly onStep?: (step: StepRecord) => void;
}

/** How one request chooses and stops: its own decoding options. */
export interface SamplingOptions extends DecodingOptions {
  /** New tokens at most; at least 1. Lowered to what the model holds (see GenerationResult.clamped). */
  readonly maxNewTokens: number;
  /** Generate exactly maxNewTokens, EOS ids included (benchmarks). Default false. */
  readonly ignoreEos?: boolean;
  /**
   * Stop when the text contains one of these; the text ends just before it
   * (the tokens keep the one that completed it). Needs createTextStream.
   */
  readonly stopStrings?: readonly string[];
  /**
   * The stream of `seed` this request samples from (default: its request
   * id). Requests with the same seed and stream draw the same numbers,
   * whatever runs beside them.
   */
  readonly rngStream?: number;
  /**
   * Report each new token's log probability and this many of the most likely
   * alternatives (OpenAI's `logprobs`/`top_logprobs`); undefined: none.
   */
  readonly logprobs?: number;
  /**
   * Processors of this request run after the built-in ones, before the
   * sampler (a grammar's mask, a logit bias); they see the same row and
   * history.
   */
  readonly logitsProcessors?: readonly LogitsProcessor[];
}

/** One request to the engine. */
export interface EngineRequest extends SamplingOptions {
  /** Prompt token ids (templated already); at least one. */
  readonly tokens: readonly number[];
  /** Each new token, then the end. Called inside the engine's step: keep it short; a throw fails the request. */
  readonly onEvent?: (event: EngineEvent) => void;
}

/** What each token or finish of a request streams out. */
export type EngineEvent =
  | {
      readonly type: "token";
      /** The request's id. */
      readonly request: number;
      readonly tokenId: number;
      /** Text this token completed; "" while a character or a possible stop string is incomplete. */
      readonly text: string;
      /** With `logprobs` asked for. */
      readonly logprobs?: TokenLogprobs;
    }
  | {
      readonly type: "end";
      readonly request: number;
      /** The text still held back at the end (the text stream's flush). */
      readonly text: string;
      readonly finishReason: FinishReason;
      readonly result: GenerationResult;
    };

/** Where one request's time went, in milliseconds. */
export interface RequestTiming {
  /** From its submission to its admission into a slot (to its end, if it never ran). */
  readonly queuedMs: number;
  /** Its prefill forward call (shared with requests admitted in the same step) and first token. */
  readonly prefillMs: number;
  /** From the end of its prefill to its finish. */
  readonly decodeMs: number;
}

/** One finished request. */
export interface GenerationResult {
  /** The request's id (generateBatch: its index in the input list). */
  readonly request: number;
  /** New tokens; an EOS that ended the sequence is not among them. */
  readonly tokens: readonly number[];
  /** Their text ("" without createTextStream), cut before a stop string. */
  readonly text: string;
  /** "abort": the request was aborted; tokens and text hold what came before. */
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** Prompt tokens whose KV came from a cache instead of the prefill (0 without prefix caching). */
  readonly cachedTokens: number;
  /** The max new tokens it ran with. */
  readonly maxNewTokens: number;
  /**
   * True when maxNewTokens was lowered so that prefix + prompt + new tokens
   * fit model.maxPositions.
   */
  readonly clamped: boolean;
  /** Per new token, with `logprobs` asked for; else null. */
  readonly logprobs: readonly TokenLogprobs[] | null;
  readonly timing: RequestTiming;
}

/** What one slot did in one step. */
export interface SlotActivity {
  /** The request's id. */
  readonly request: number;
  readonly phase: "prefill" | "decode";
  /** Tokens fed: the prompt for prefill, 1 for decode. */
  readonly tokens: number;
}

/** One engine step. */
export interface StepRecord {
  /** [batchSize] what each slot ran; null: idle. */
  readonly slots: readonly (SlotActivity | null)[];
  /** Requests left waiting in the queue during this step. */
  readonly queued: number;
  /** True when the queue's head could not be admitted for lack of cache memory. */
  readonly blocked: boolean;
  /** Duration of the prefill call and its token choices; 0 without one. */
  readonly prefillMs: number;
  /** Duration of the decode call and its token choices; 0 without one. */
  readonly decodeMs: number;
}

/** A submitted request. */
export interface RequestHandle {
  readonly id: number;
  /**
   * Its result when it finishes, aborted ones included; rejects when the
   * model failed while it was in flight, or its onEvent threw.
   */
  readonly result: Promise<GenerationResult>;
  /** Stops it at once: out of the queue, or its sequence and slot freed (when a forward call is running, the moment it returns). */
  abort(): void;
}

/** The online engine. */
export interface Engine {
  readonly model: CausalLM;
  readonly batchSize: number;
  /** Requests in a slot now. */
  readonly running: number;
  /** Requests waiting for a slot now. */
  readonly waiting: number;
  /** Share of the KV capacity in use, 0..1: positions held by live sequences over options.kvCapacity. */
  readonly cacheUsage: number;
  /** Queues a request; throws on an invalid request (nothing is queued) or a QueueFullError. */
  submit(request: EngineRequest): RequestHandle;
  /** Queues all of them or none (a QueueFullError when they do not all fit). */
  submitAll(requests: readonly EngineRequest[]): RequestHandle[];
  /** Aborts every request, waiting or running. */
  abortAll(): void;
  /** Resolves once nothing is waiting or running. */
  idle(): Promise<void>;
}

/** `submit` found the queue full: a client should retry later (HTTP 429). */
export class QueueFullError extends Error {
  constructor(readonly maxQueue: number) {
    super(`the queue is full (${maxQueue} requests waiting); retry later`);
    this.name = "QueueFullError";
  }
}

/** Starts an engine over `model`. It runs steps only while there is work. */
export function createEngine(model: CausalLM, options: EngineOptions = {}): Engine {
  return new ContinuousBatchingEngine(model, options);
}

/** A request checked against the model, waiting or running. */
interface Plan {
  readonly id: number;
  readonly tokens: readonly number[];
  readonly maxNewTokens: number;
  readonly clamped: boolean;
  /** Cache positions it may hold: prefix + prompt + max new tokens. */
  readonly positions: number;
  readonly stopping: StoppingCriteria;
  readonly process: LogitsProcessor;
  readonly sample: Sampler;
  readonly rng: Rng;
  readonly stopStrings: readonly string[];
  readonly logprobs: number | null;
  readonly onEvent: ((event: EngineEvent) => void) | undefined;
  readonly submittedAt: number;
  readonly resolve: (result: GenerationResult) => void;
  readonly reject: (error: unknown) => void;
  state: "waiting" | "running" | "done";
  /** Set while it is running. */
  live: Live | null;
}

/** A request in a slot. */
interface Live {
  readonly plan: Plan;
  readonly seq: Sequence;
  readonly slot: number;
  /** Prompt then generated tokens, for the penalties. */
  readonly history: number[];
  readonly generated: number[];
  readonly logprobs: TokenLogprobs[] | null;
  readonly textStream: TextStream | null;
  readonly stopMatcher: StopStringMatcher | null;
  /** Prompt positions already in the cache at admission (a shared prefix). */
  readonly cachedTokens: number;
  text: string;
  readonly admittedAt: number;
  prefillMs: number;
  prefillEnd: number;
  /** Aborted while a forward call ran: released when the call returns. */
  aborted: boolean;
}

class ContinuousBatchingEngine implements Engine {
  readonly model: CausalLM;
  readonly batchSize: number;
  readonly #options: EngineOptions;
  readonly #maxQueue: number;
  readonly #kvCapacity: number;
  readonly #eos: readonly number[];
  readonly #slots: (Live | null)[];
  readonly #queue: Plan[] = [];
  /** A forward call is running: releases wait for it to return. */
  #inForward = false;
  #nextId = 0;
  #steps = 0;
  #looping = false;
  #idleWaiters: (() => void)[] = [];

  constructor(model: CausalLM, options: EngineOptions) {
    this.model = model;
    this.#options = options;
    const batchSize = options.batchSize ?? 1;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
      throw new Error(`batch_size must be an integer >= 1, got ${batchSize}`);
    }
    this.batchSize = batchSize;
    const maxQueue = options.maxQueue ?? Infinity;
    if (!(maxQueue === Infinity || (Number.isInteger(maxQueue) && maxQueue >= 0))) {
      throw new Error(`max_queue must be an integer >= 0, got ${maxQueue}`);
    }
    this.#maxQueue = maxQueue;
    const kvCapacity = options.kvCapacity ?? batchSize * model.maxPositions;
    if (!(Number.isSafeInteger(kvCapacity) && kvCapacity >= 1)) throw new Error(`kvCapacity must be a positive integer, got ${kvCapacity}`);
    this.#kvCapacity = kvCapacity;
    const eos = options.eosTokenIds ?? [];
    for (const id of eos) {
      if (!(Number.isInteger(id) && id >= 0)) throw new Error(`eos token ids must be integers >= 0, got ${id}`);
      if (id >= model.vocabSize) {
        throw new Error(`eos token id ${id} is outside the model's vocabulary (${model.vocabSize} ids)`);
      }
    }
    this.#eos = eos;
    this.#slots = new Array<Live | null>(batchSize).fill(null);
  }

  get running(): number {
    return this.#slots.filter((live) => live !== null).length;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  get cacheUsage(): number {
    let held = 0;
    for (const live of this.#slots) if (live !== null) held += live.seq.length;
    return held / this.#kvCapacity;
  }

  submit(request: EngineRequest): RequestHandle {
    return this.submitAll([request])[0]!;
  }

  submitAll(requests: readonly EngineRequest[]): RequestHandle[] {
    if (this.#queue.length + requests.length > this.#maxQueue) throw new QueueFullError(this.#maxQueue);
    const first = this.#nextId;
    const plans = requests.map((request, i) => this.#plan(request, first + i));
    this.#nextId += plans.length;
    const handles = plans.map((plan) => {
      let resolve!: (result: GenerationResult) => void;
      let reject!: (error: unknown) => void;
      const result = new Promise<GenerationResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A failure nobody awaits must not become an unhandled rejection that ends the process.
      result.catch(() => undefined);
      const full: Plan = { ...plan, resolve, reject };
      this.#queue.push(full);
      return { id: full.id, result, abort: () => this.#abort(full) };
    });
    this.#wake();
    return handles;
  }

  abortAll(): void {
    for (const plan of [...this.#queue]) this.#abort(plan);
    for (const live of this.#slots) if (live !== null) this.#abort(live.plan);
  }

  idle(): Promise<void> {
    if (!this.#looping && this.#queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Checks a request against the model and builds what it runs with; throws on anything invalid. */
  #plan(request: EngineRequest, id: number): Omit<Plan, "resolve" | "reject"> {
    const { model } = this;
    const { tokens } = request;
    if (tokens.length === 0) throw new Error(`request ${id} has an empty prompt: it needs at least one token`);
    for (const token of tokens) {
      if (!(Number.isInteger(token) && token >= 0 && token < model.vocabSize)) {
        throw new Error(`request ${id}: prompt token ${token} is outside the model's vocabulary (${model.vocabSize} ids)`);
      }
    }
    const stopStrings = request.stopStrings ?? [];
    if (stopStrings.length > 0 && this.#options.createTextStream === undefined) {
      throw new Error("stop strings need text: pass createTextStream along with stopStrings");
    }
    createStopStringMatcher(stopStrings); // throws on an empty stop string
    const builtIn = createLogitsProcessor(request);
    const process = request.logitsProcessors === undefined ? builtIn : composeProcessors([builtIn, ...request.logitsProcessors]);
    const sample = createSampler(request);
    createStoppingCriteria(request); // throws on a bad maxNewTokens before the clamp hides it
    const rng = createRng(request.seed ?? 0, request.rngStream ?? id);
    const logprobs = request.logprobs ?? null;
    if (logprobs !== null && !(Number.isInteger(logprobs) && logprobs >= 0)) {
      throw new Error(`logprobs must be an integer >= 0 (the number of top tokens), got ${logprobs}`);
    }
    const room = model.maxPositions - model.prefixLength - tokens.length;
    if (room < 1) {
      const prefix = model.prefixLength > 0 ? ` after ${model.prefixLength} prefix positions` : "";
      throw new Error(
        `request ${id}: its prompt of ${tokens.length} tokens leaves no room for a new token${prefix} ` +
          `in the model's ${model.maxPositions} positions; truncate prompts (src_length) below ${model.maxPositions - model.prefixLength}`,
      );
    }
    const maxNewTokens = Math.min(request.maxNewTokens, room);
    return {
      id,
      tokens,
      maxNewTokens,
      clamped: maxNewTokens < request.maxNewTokens,
      positions: model.prefixLength + tokens.length + maxNewTokens,
      stopping: createStoppingCriteria({ maxNewTokens, eosTokenIds: this.#eos, ignoreEos: request.ignoreEos ?? false }),
      process,
      sample,
      rng,
      stopStrings,
      logprobs,
      onEvent: request.onEvent,
      submittedAt: performance.now(),
      state: "waiting",
      live: null,
    };
  }

  #wake(): void {
    if (this.#looping || (this.#queue.length === 0 && this.running === 0)) return;
    this.#looping = true;
    setImmediate(() => void this.#loop());
  }

  async #loop(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.running > 0) {
        await this.#step();
        // Lets the server read requests, aborts and disconnects between steps.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#looping = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  async #step(): Promise<void> {
    const step = this.#steps++;
    const decoding = this.#slots.filter((live): live is Live => live !== null);
    const { admitted, blocked } = this.#admit();
    if (blocked && decoding.length === 0 && admitted.length === 0) {
      const head = this.#queue.shift()!;
      head.state = "done";
      head.reject(new Error(neverFits(this.model, head)));
      return;
    }
    const slots = this.#slots.map((live): SlotActivity | null => {
      if (live === null) return null;
      return admitted.includes(live)
        ? { request: live.plan.id, phase: "prefill", tokens: live.plan.tokens.length - live.cachedTokens }
        : { request: live.plan.id, phase: "decode", tokens: 1 };
    });
    const prefillMs = await this.#run(step, "prefill", admitted);
    const decodeMs = await this.#run(step, "decode", decoding.filter((live) => live.plan.state === "running"));
    this.#options.onStep?.({ slots, queued: this.#queue.length, blocked, prefillMs, decodeMs });
  }

  /**
   * Fills free slots, lowest first, with waiting requests in order, until the
   * queue is empty or the model has no memory for its head.
   */
  #admit(): { admitted: Live[]; blocked: boolean } {
    const admitted: Live[] = [];
    for (let slot = 0; slot < this.#slots.length && this.#queue.length > 0; slot++) {
      if (this.#slots[slot] !== null) continue;
      const plan = this.#queue[0]!;
      const seq = allocate(this.model, plan.positions);
      if (seq === null) return { admitted, blocked: true };
      this.#queue.shift();
      const live: Live = {
        plan,
        seq,
        slot,
        history: [...plan.tokens],
        generated: [],
        logprobs: plan.logprobs === null ? null : [],
        textStream: this.#options.createTextStream?.() ?? null,
        stopMatcher: plan.stopStrings.length > 0 ? createStopStringMatcher(plan.stopStrings) : null,
        cachedTokens: seq.length - this.model.prefixLength,
        text: "",
        admittedAt: performance.now(),
        prefillMs: 0,
        prefillEnd: 0,
        aborted: false,
      };
      plan.state = "running";
      plan.live = live;
      this.#slots[slot] = live;
      admitted.push(live);
    }
    return { admitted, blocked: false };
  }

  /** One forward call for `lives` (their prompts, or their last tokens), then a token for each; returns its duration. */
  async #run(step: number, phase: "prefill" | "decode", lives: readonly Live[]): Promise<number> {
    if (lives.length === 0) return 0;
    const start = performance.now();
    const steps: ForwardStep[] = lives.map((live) => ({
      seq: live.seq,
      tokens: phase === "prefill" ? live.plan.tokens.slice(live.cachedTokens) : [live.generated[live.generated.length - 1]!],
    }));
    this.#inForward = true;
    let rows: Float32Array[];
    try {
      rows = await this.model.forward(steps);
      checkRows(this.model, rows, lives);
    } catch (error) {
      this.#inForward = false;
      this.#failInFlight(step, error);
      return performance.now() - start;
    }
    this.#inForward = false;
    const end = performance.now();
    // Requests aborted during the call, in it or not, are released now.
    for (const live of this.#slots) if (live?.aborted) this.#finish(live, "abort");
    lives.forEach((live, i) => {
      if (phase === "prefill") {
        live.prefillMs = end - start;
        live.prefillEnd = end;
      }
      if (live.plan.state === "running") this.#advance(live, rows[i]!);
    });
    return performance.now() - start;
  }

  /** Chooses a sequence's next token from its logits row, streams it, and finishes the sequence if it should stop. */
  #advance(live: Live, logits: Float32Array): void {
    const { plan } = live;
    // Log probabilities describe the model's own row, before penalties and filters change it.
    const raw = live.logprobs === null ? null : logits.slice();
    plan.process(logits, live.history, plan.tokens.length);
    const token = plan.sample(logits, plan.rng);
    const stop = plan.stopping.check(token, live.generated.length + 1);
    if (stop === "eos") {
      this.#finish(live, "eos");
      return;
    }
    live.generated.push(token);
    live.history.push(token);
    const logprobs = raw === null ? undefined : tokenLogprobs(raw, token, plan.logprobs!);
    if (logprobs !== undefined) live.logprobs!.push(logprobs);
    const piece = live.textStream?.push(token) ?? "";
    const matched = live.stopMatcher?.push(piece) ?? { text: piece, stopped: false };
    live.text += matched.text;
    const event: EngineEvent =
      logprobs === undefined
        ? { type: "token", request: plan.id, tokenId: token, text: matched.text }
        : { type: "token", request: plan.id, tokenId: token, text: matched.text, logprobs };
    if (!this.#emit(live, event)) return;
    if (matched.stopped) this.#finish(live, "stop");
    else if (stop === "length") this.#finish(live, "length");
  }

  /** Delivers an event; when the callback throws, the request fails with its error. Returns whether it is still running. */
  #emit(live: Live, event: EngineEvent): boolean {
    try {
      live.plan.onEvent?.(event);
      return true;
    } catch (error) {
      this.#release(live);
      live.plan.reject(error);
      return false;
    }
  }

  /** Releases a finished sequence's slot and cache, then delivers its result. */
  #finish(live: Live, reason: FinishReason): void {
    let finishReason = reason;
    let tail = "";
    if (reason === "eos" || reason === "length") {
      tail = live.textStream?.flush() ?? "";
      if (live.stopMatcher !== null) {
        const matched = live.stopMatcher.push(tail);
        tail = matched.text;
        if (matched.stopped) finishReason = "stop";
        else tail += live.stopMatcher.flush();
      }
    }
    live.text += tail;
    this.#release(live);
    const end = performance.now();
    const { plan } = live;
    const result: GenerationResult = {
      request: plan.id,
      tokens: live.generated,
      text: live.text,
      finishReason,
      promptTokens: plan.tokens.length,
      cachedTokens: live.cachedTokens,
      maxNewTokens: plan.maxNewTokens,
      clamped: plan.clamped,
      logprobs: live.logprobs,
      timing: {
        queuedMs: live.admittedAt - plan.submittedAt,
        prefillMs: live.prefillMs,
        decodeMs: live.prefillEnd === 0 ? 0 : end - live.prefillEnd,
      },
    };
    try {
      plan.onEvent?.({ type: "end", request: plan.id, text: tail, finishReason, result });
    } catch (error) {
      plan.reject(error);
      return;
    }
    plan.resolve(result);
  }

  /** Frees a running request's slot and sequence, once. */
  #release(live: Live): void {
    live.plan.state = "done";
    this.#slots[live.slot] = null;
    this.model.releaseSequence(live.seq);
  }

  #abort(plan: Plan): void {
    switch (plan.state) {
      case "done":
        return;
      case "waiting": {
        this.#queue.splice(this.#queue.indexOf(plan), 1);
        plan.state = "done";
        const result: GenerationResult = {
          request: plan.id,
          tokens: [],
          text: "",
          finishReason: "abort",
          promptTokens: plan.tokens.length,
          cachedTokens: 0,
          maxNewTokens: plan.maxNewTokens,
          clamped: plan.clamped,
          logprobs: plan.logprobs === null ? null : [],
          timing: { queuedMs: performance.now() - plan.submittedAt, prefillMs: 0, decodeMs: 0 },
        };
        try {
          plan.onEvent?.({ type: "end", request: plan.id, text: "", finishReason: "abort", result });
        } catch (error) {
          plan.reject(error);
          return;
        }
        plan.resolve(result);
        return;
      }
      case "running": {
        const live = plan.live!;
        // The model's caches are not touched while a forward call runs (the static model awaits onnxruntime).
        if (this.#inForward) live.aborted = true;
        else this.#finish(live, "abort");
        return;
      }
      default: {
        const unknown: never = plan.state;
        throw new Error(`request ${plan.id} in unknown state ${String(unknown)}`);
      }
    }
  }

  /** A forward call failed: every request in flight fails (the model's caches may be half-written), the queue goes on. */
  #failInFlight(step: number, error: unknown): void {
    const inFlight = this.#slots.filter((live): live is Live => live !== null);
    const list = inFlight.map((live) => live.plan.id).join(", ") || "none";
    const message = error instanceof Error ? error.message : String(error);
    const failure = new Error(`generation failed at step ${step} (requests in flight: ${list}): ${message}`, { cause: error });
    for (const live of inFlight) {
      try {
        this.#release(live);
      } catch {
        // The model may no longer know a sequence after its own failure; the slot is free either way.
      }
      live.plan.reject(failure);
    }
  }
}

function allocate(model: CausalLM, positions: number): Sequence | null {
  if (model.allocateSequence !== undefined) return model.allocateSequence(positions);
  return model.canAllocate(positions) ? model.createSequence() : null;
}

function neverFits(model: CausalLM, plan: Plan): string {
  const prefix = model.prefixLength > 0 ? `${model.prefixLength} prefix + ` : "";
  return (
    `request ${plan.id} needs ${plan.positions} cache positions ` +
    `(${prefix}${plan.tokens.length} prompt + ${plan.maxNewTokens} new tokens), and the model cannot ` +
    `allocate them even with no other sequence in flight: give the KV cache more blocks, or lower max_length or src_length`
  );
}

/** model.forward's answer checked: one [vocabSize] row per step. */
function checkRows(model: CausalLM, rows: Float32Array[], lives: readonly Live[]): void {
  if (rows.length !== lives.length) {
    throw new Error(`model.forward returned ${rows.length} logits arrays for ${lives.length} sequences`);
  }
  rows.forEach((row, i) => {
    if (row.length !== model.vocabSize) {
      throw new Error(
        `model.forward returned ${row.length} logits for request ${lives[i]!.plan.id}, ` +
          `expected ${model.vocabSize} (one position x vocabSize)`,
      );
    }
  });
}
