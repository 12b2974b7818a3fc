/**
 * The continuous-batching scheduler (PaddleNLP's "dynamic insertion").
 *
 * `batchSize` slots each hold one sequence in flight. Prompts wait in a FIFO
 * queue, in input order. Each step:
 *
 * 1. admission: every free slot, lowest first, takes the next waiting prompt,
 *    if the model can give it cache memory for prompt + max new tokens; if
 *    not, the prompt (and every prompt behind it: the queue stays FIFO) waits
 *    until a sequence finishes and frees memory;
 * 2. prefill: the prompts admitted this step run in one `model.forward` call
 *    of their own, and each gets its first new token;
 * 3. decode: the sequences admitted earlier run in a second call, one token
 *    each.
 *
 * A sequence that finishes (EOS, its max new tokens, a stop string) is
 * released at once and its slot refilled at the next step, so no slot waits
 * for the longest sequence of a batch and finished sequences cost nothing.
 *
 * Prefill and decode are separate calls because a batched forward pads its
 * rows to the longest one: a 1-token decode row beside a 500-token prompt
 * would pay for 500 positions. Separate calls also make prefill and decode
 * times (and the tokens/s figures built on them) exact.
 */
import type { CausalLM, ForwardStep, Sequence } from "./causal-lm.js";
import { createLogitsProcessor, createSampler, type DecodingOptions } from "./decoding.js";
import type { LogitsProcessor } from "./logits-processor.js";
import { createRng, type Rng } from "./rng.js";
import type { Sampler } from "./samplers.js";
import { createStopStringMatcher, type StopStringMatcher } from "./stop-strings.js";
import { createStoppingCriteria, type FinishReason, type StoppingCriteria, type StoppingOptions } from "./stopping.js";
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

/** Where one request's time went, in milliseconds. */
export interface RequestTiming {
  /** From the start of the run to its admission into a slot. */
  readonly queuedMs: number;
  /** Its prefill forward call (shared with prompts admitted in the same step) and first token. */
  readonly prefillMs: number;
  /** From the end of its prefill to its finish. */
  readonly decodeMs: number;
}

/** One finished request. */
export interface GenerationResult {
  /** Index of the request in the input list. */
  readonly request: number;
  /** New tokens; an EOS that ended the sequence is not among them. */
  readonly tokens: readonly number[];
  /** Their text ("" without createTextStream), cut before a stop string. */
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** The max new tokens it ran with. */
  readonly maxNewTokens: number;
  /**
   * True when maxNewTokens was lowered so that prefix + prompt + new tokens
   * fit model.maxPositions.
   */
  readonly clamped: boolean;
  readonly timing: RequestTiming;
}

/** What one slot did in one step. */
export interface SlotActivity {
  /** Index of the request in the input list. */
  readonly request: number;
  readonly phase: "prefill" | "decode";
  /** Tokens fed: the prompt for prefill, 1 for decode. */
  readonly tokens: number;
}

/** One scheduler step. */
export interface StepRecord {
  /** [batchSize] what each slot ran; null: idle. */
  readonly slots: readonly (SlotActivity | null)[];
  /** Prompts left waiting in the queue during this step. */
  readonly queued: number;
  /** True when the queue's head could not be admitted for lack of cache memory. */
  readonly blocked: boolean;
  /** Duration of the prefill call and its token choices; 0 without one. */
  readonly prefillMs: number;
  /** Duration of the decode call and its token choices; 0 without one. */
  readonly decodeMs: number;
}

/** Everything a run produced. */
export interface BatchRun {
  /** One per request, in input order. */
  readonly results: readonly GenerationResult[];
  readonly steps: readonly StepRecord[];
  readonly batchSize: number;
  readonly wallMs: number;
}

/** A request checked against the model, before it runs. */
interface Plan {
  readonly index: number;
  readonly tokens: readonly number[];
  readonly maxNewTokens: number;
  readonly clamped: boolean;
  /** Cache positions it may hold: prefix + prompt + max new tokens. */
  readonly positions: number;
  readonly stopping: StoppingCriteria;
  readonly rng: Rng;
}

/** A request in a slot. */
interface Live {
  readonly plan: Plan;
  readonly seq: Sequence;
  readonly slot: number;
  /** Prompt then generated tokens, for the repetition penalty. */
  readonly history: number[];
  readonly generated: number[];
  readonly textStream: TextStream | null;
  readonly stopMatcher: StopStringMatcher | null;
  text: string;
  readonly admittedAt: number;
  prefillMs: number;
  prefillEnd: number;
}

/** Shared by every request of a run. */
interface Run {
  readonly model: CausalLM;
  readonly options: BatchOptions;
  readonly process: LogitsProcessor;
  readonly sample: Sampler;
  readonly start: number;
  readonly slots: (Live | null)[];
  /** Index in the plans of the queue's head. */
  waiting: number;
  readonly results: GenerationResult[];
}

/**
 * Completes every request on `model`, `options.batchSize` at a time, with
 * continuous batching (see the file comment). Results come to
 * `options.onResult` as requests finish, and in input order in the returned
 * run. Everything is validated before the first forward call. If a forward
 * call or a callback throws, every sequence in flight is released and the
 * promise rejects with the step and requests named (the original error is
 * the `cause`).
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
  const batchSize = options.batchSize ?? 1;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new Error(`batch_size must be an integer >= 1, got ${batchSize}`);
  }
  const stopStrings = options.stopStrings ?? [];
  if (stopStrings.length > 0 && options.createTextStream === undefined) {
    throw new Error("stop strings need text: pass createTextStream along with stopStrings");
  }
  createStopStringMatcher(stopStrings); // throws on an empty stop string
  createStoppingCriteria(options); // throws on a bad maxNewTokens or eos id, even if every request overrides it
  for (const id of options.eosTokenIds ?? []) {
    if (Number.isInteger(id) && id >= model.vocabSize) {
      throw new Error(`eos token id ${id} is outside the model's vocabulary (${model.vocabSize} ids)`);
    }
  }
  const plans = requests.map((request, index) => planRequest(model, request, index, options));
  const run: Run = {
    model,
    options,
    process: createLogitsProcessor(options),
    sample: createSampler(options),
    start: performance.now(),
    slots: new Array<Live | null>(batchSize).fill(null),
    waiting: 0,
    results: new Array<GenerationResult>(plans.length),
  };
  const steps: StepRecord[] = [];
  try {
    while (run.waiting < plans.length || run.slots.some((live) => live !== null)) {
      const decoding = run.slots.filter((live): live is Live => live !== null);
      const { admitted, blocked } = admitWaiting(run, plans);
      if (blocked && decoding.length === 0 && admitted.length === 0) {
        throw new Error(neverFits(model, plans[run.waiting]!));
      }
      const activity = run.slots.map((live): SlotActivity | null => {
        if (live === null) return null;
        return admitted.includes(live)
          ? { request: live.plan.index, phase: "prefill", tokens: live.plan.tokens.length }
          : { request: live.plan.index, phase: "decode", tokens: 1 };
      });
      const prefillMs = await prefillStep(run, admitted);
      const decodeMs = await decodeStep(run, decoding);
      steps.push({ slots: activity, queued: plans.length - run.waiting, blocked, prefillMs, decodeMs });
    }
  } catch (error) {
    const inFlight = run.slots.filter((live): live is Live => live !== null);
    for (const live of inFlight) model.releaseSequence(live.seq);
    run.slots.fill(null);
    const requestList = inFlight.map((live) => live.plan.index).join(", ") || "none";
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`generation failed at step ${steps.length} (requests in flight: ${requestList}): ${message}`, {
      cause: error,
    });
  }
  return { results: run.results, steps, batchSize, wallMs: performance.now() - run.start };
}

function planRequest(model: CausalLM, request: GenerationRequest, index: number, options: BatchOptions): Plan {
  const { tokens } = request;
  if (tokens.length === 0) throw new Error(`request ${index} has an empty prompt: it needs at least one token`);
  for (const id of tokens) {
    if (!(Number.isInteger(id) && id >= 0 && id < model.vocabSize)) {
      throw new Error(`request ${index}: prompt token ${id} is outside the model's vocabulary (${model.vocabSize} ids)`);
    }
  }
  const room = model.maxPositions - model.prefixLength - tokens.length;
  if (room < 1) {
    const prefix = model.prefixLength > 0 ? ` after ${model.prefixLength} prefix positions` : "";
    throw new Error(
      `request ${index}: its prompt of ${tokens.length} tokens leaves no room for a new token${prefix} ` +
        `in the model's ${model.maxPositions} positions; truncate prompts (src_length) below ${model.maxPositions - model.prefixLength}`,
    );
  }
  const requested = request.maxNewTokens ?? options.maxNewTokens;
  const valid = Number.isInteger(requested) && requested >= 1;
  const maxNewTokens = valid ? Math.min(requested, room) : requested;
  return {
    index,
    tokens,
    maxNewTokens,
    clamped: maxNewTokens < requested,
    positions: model.prefixLength + tokens.length + maxNewTokens,
    stopping: createStoppingCriteria({ ...options, maxNewTokens }),
    rng: createRng(options.seed ?? 0, request.rngStream ?? index),
  };
}

/**
 * Fills free slots, lowest first, with waiting prompts in order, until the
 * queue is empty or the model has no memory for its head.
 */
function admitWaiting(run: Run, plans: readonly Plan[]): { admitted: Live[]; blocked: boolean } {
  const admitted: Live[] = [];
  for (let slot = 0; slot < run.slots.length && run.waiting < plans.length; slot++) {
    if (run.slots[slot] !== null) continue;
    const plan = plans[run.waiting]!;
    const seq = allocate(run.model, plan.positions);
    if (seq === null) return { admitted, blocked: true };
    try {
      run.slots[slot] = admit(run, plan, seq, slot);
    } catch (error) {
      run.model.releaseSequence(seq);
      throw error;
    }
    admitted.push(run.slots[slot]!);
    run.waiting++;
  }
  return { admitted, blocked: false };
}

function allocate(model: CausalLM, positions: number): Sequence | null {
  if (model.allocateSequence !== undefined) return model.allocateSequence(positions);
  return model.canAllocate(positions) ? model.createSequence() : null;
}

function neverFits(model: CausalLM, plan: Plan): string {
  const prefix = model.prefixLength > 0 ? `${model.prefixLength} prefix + ` : "";
  return (
    `request ${plan.index} needs ${plan.positions} cache positions ` +
    `(${prefix}${plan.tokens.length} prompt + ${plan.maxNewTokens} new tokens), and the model cannot ` +
    `allocate them even with no other sequence in flight: give the KV cache more blocks, or lower max_length or src_length`
  );
}

function admit(run: Run, plan: Plan, seq: Sequence, slot: number): Live {
  const stopStrings = run.options.stopStrings ?? [];
  return {
    plan,
    seq,
    slot,
    history: [...plan.tokens],
    generated: [],
    textStream: run.options.createTextStream?.() ?? null,
    stopMatcher: stopStrings.length > 0 ? createStopStringMatcher(stopStrings) : null,
    text: "",
    admittedAt: performance.now(),
    prefillMs: 0,
    prefillEnd: 0,
  };
}

/** Prefills the prompts admitted this step in one call; returns its duration. */
async function prefillStep(run: Run, admitted: readonly Live[]): Promise<number> {
  if (admitted.length === 0) return 0;
  const start = performance.now();
  const rows = await forward(
    run.model,
    admitted.map((live) => ({ seq: live.seq, tokens: live.plan.tokens })),
    admitted,
  );
  const end = performance.now();
  for (const live of admitted) {
    live.prefillMs = end - start;
    live.prefillEnd = end;
  }
  admitted.forEach((live, i) => advance(run, live, rows[i]!));
  return performance.now() - start;
}

/** Feeds each decoding sequence its last token in one call; returns its duration. */
async function decodeStep(run: Run, decoding: readonly Live[]): Promise<number> {
  if (decoding.length === 0) return 0;
  const start = performance.now();
  const rows = await forward(
    run.model,
    decoding.map((live) => ({ seq: live.seq, tokens: [live.generated[live.generated.length - 1]!] })),
    decoding,
  );
  decoding.forEach((live, i) => advance(run, live, rows[i]!));
  return performance.now() - start;
}

/** model.forward, with its answer checked: one [vocabSize] row per step. */
async function forward(model: CausalLM, steps: ForwardStep[], lives: readonly Live[]): Promise<Float32Array[]> {
  const rows = await model.forward(steps);
  if (rows.length !== steps.length) {
    throw new Error(`model.forward returned ${rows.length} logits arrays for ${steps.length} sequences`);
  }
  rows.forEach((row, i) => {
    if (row.length !== model.vocabSize) {
      throw new Error(
        `model.forward returned ${row.length} logits for request ${lives[i]!.plan.index}, ` +
          `expected ${model.vocabSize} (one position x vocabSize)`,
      );
    }
  });
  return rows;
}

/** Chooses a sequence's next token from its logits row, streams it, and finishes the sequence if it should stop. */
function advance(run: Run, live: Live, logits: Float32Array): void {
  run.process(logits, live.history);
  const token = run.sample(logits, live.plan.rng);
  const stop = live.plan.stopping.check(token, live.generated.length + 1);
  if (stop === "eos") {
    finish(run, live, "eos");
    return;
  }
  live.generated.push(token);
  live.history.push(token);
  const piece = live.textStream?.push(token) ?? "";
  const matched = live.stopMatcher?.push(piece) ?? { text: piece, stopped: false };
  live.text += matched.text;
  run.options.onStream?.({ type: "token", request: live.plan.index, tokenId: token, text: matched.text });
  if (matched.stopped) finish(run, live, "stop");
  else if (stop === "length") finish(run, live, "length");
}

/** Releases a finished sequence's slot and cache, then delivers its result. */
function finish(run: Run, live: Live, reason: FinishReason): void {
  let finishReason = reason;
  let tail = "";
  if (reason !== "stop") {
    tail = live.textStream?.flush() ?? "";
    if (live.stopMatcher !== null) {
      const matched = live.stopMatcher.push(tail);
      tail = matched.text;
      if (matched.stopped) finishReason = "stop";
      else tail += live.stopMatcher.flush();
    }
  }
  live.text += tail;
  run.slots[live.slot] = null;
  run.model.releaseSequence(live.seq);
  const end = performance.now();
  const result: GenerationResult = {
    request: live.plan.index,
    tokens: live.generated,
    text: live.text,
    finishReason,
    promptTokens: live.plan.tokens.length,
    maxNewTokens: live.plan.maxNewTokens,
    clamped: live.plan.clamped,
    timing: {
      queuedMs: live.admittedAt - run.start,
      prefillMs: live.prefillMs,
      decodeMs: end - live.prefillEnd,
    },
  };
  run.results[live.plan.index] = result;
  run.options.onStream?.({ type: "end", request: live.plan.index, text: tail, finishReason });
  run.options.onResult?.(result);
}
