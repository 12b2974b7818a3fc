import { test } from "node:test";
import assert from "node:assert/strict";
import { createEngine, QueueFullError, type EngineEvent, type EngineRequest, type GenerationResult } from "./engine.js";
import { tokenLogprobs } from "./logprobs.js";
import { FakeCausalLM, fakeGreedy, fakeLogits, fakeText, fakeTextStream } from "./testing/fake-causal-lm.js";

const EOS = [62, 63];
const prompt = (r: number, length: number): number[] => Array.from({ length }, (_, i) => (r * 7 + i * 13) % 60);

/** Each request run alone on a fresh one-slot engine: the reference for what it must produce beside others. */
async function alone(request: EngineRequest): Promise<GenerationResult> {
  const engine = createEngine(new FakeCausalLM(), { eosTokenIds: EOS, createTextStream: () => fakeTextStream(EOS) });
  return engine.submit(request).result;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test("requests submitted while others run join the batch, each with its own options, and give what they give alone", async () => {
  const model = new FakeCausalLM();
  const engine = createEngine(model, { batchSize: 3, eosTokenIds: EOS, createTextStream: () => fakeTextStream(EOS) });
  const requests: EngineRequest[] = [
    { tokens: prompt(0, 5), maxNewTokens: 20 },
    { tokens: prompt(1, 30), maxNewTokens: 12, decodeStrategy: "sampling", temperature: 0.8, topP: 0.9, seed: 7 },
    { tokens: prompt(2, 3), maxNewTokens: 25, presencePenalty: 1.5, frequencyPenalty: 0.5 },
    { tokens: prompt(3, 9), maxNewTokens: 8, decodeStrategy: "sampling", minP: 0.3, topK: 10, seed: 3, rngStream: 5 },
    { tokens: prompt(4, 14), maxNewTokens: 16, repetitionPenalty: 1.3, ignoreEos: true },
  ];
  const handles = [engine.submit(requests[0]!)];
  // The others arrive one at a time while the first is decoding.
  for (const request of requests.slice(1)) {
    await nextTurn();
    await nextTurn();
    handles.push(engine.submit(request));
  }
  const results = await Promise.all(handles.map((h) => h.result));
  for (const [i, request] of requests.entries()) {
    // A request's default random stream is its id, so run alone it needs that id as its stream.
    const expected = await alone({ ...request, rngStream: request.rngStream ?? i });
    assert.deepEqual(results[i]!.tokens, expected.tokens, `request ${i}`);
    assert.equal(results[i]!.text, expected.text);
    assert.equal(results[i]!.finishReason, expected.finishReason);
  }
  assert.equal(results[4]!.tokens.length, 16, "ignoreEos runs to max new tokens");
  assert.deepEqual(results[0]!.tokens, fakeGreedy(requests[0]!.tokens, { maxNewTokens: 20, eosTokenIds: EOS }));
  assert.equal(engine.running + engine.waiting, 0);
  assert.deepEqual(model.liveIds(), []);
});

test("a request aborted while waiting, prefilling or decoding frees its place at once", async () => {
  for (const phase of ["waiting", "prefill", "decode"] as const) {
    const model = new FakeCausalLM();
    const engine = createEngine(model, { batchSize: 1, eosTokenIds: EOS, createTextStream: () => fakeTextStream(EOS) });
    const events: EngineEvent[] = [];
    const first = engine.submit({ tokens: prompt(0, 6), maxNewTokens: 40, ignoreEos: true, onEvent: (e) => events.push(e) });
    const second = engine.submit({ tokens: prompt(1, 4), maxNewTokens: 3 });
    const forward = model.forward.bind(model);
    model.forward = async (steps) => {
      const answer = forward(steps);
      const isPrefill = steps.some((s) => s.tokens.length > 1);
      if (phase === "prefill" && isPrefill && steps[0]!.seq.id === 0) first.abort();
      if (phase === "decode" && !isPrefill && events.length === 3) first.abort();
      return answer;
    };
    if (phase === "waiting") {
      assert.equal(engine.waiting, 2);
      first.abort();
      assert.equal(engine.waiting, 1, "out of the queue at once");
    }
    const result = await first.result;
    assert.equal(result.finishReason, "abort", phase);
    assert.equal(result.tokens.length, { waiting: 0, prefill: 0, decode: 3 }[phase]);
    assert.equal(events.at(-1)!.type, "end");
    // The slot went to the second request, which ran to its end.
    assert.equal((await second.result).finishReason, "length");
    await engine.idle();
    assert.deepEqual(model.liveIds(), [], phase);
    assert.equal(model.released.length, model.created);
    assert.equal(model.created, phase === "waiting" ? 1 : 2);
    first.abort(); // aborting a finished request changes nothing
    assert.equal(engine.running, 0);
  }
});

test("abortAll ends everything; the engine keeps serving afterwards", async () => {
  const model = new FakeCausalLM();
  const engine = createEngine(model, { batchSize: 2 });
  const handles = engine.submitAll([0, 1, 2, 3].map((r) => ({ tokens: prompt(r, 5), maxNewTokens: 50 })));
  await nextTurn();
  await nextTurn();
  engine.abortAll();
  const results = await Promise.all(handles.map((h) => h.result));
  assert.deepEqual(results.map((r) => r.finishReason), ["abort", "abort", "abort", "abort"]);
  await engine.idle();
  assert.deepEqual(model.liveIds(), []);
  const later = await engine.submit({ tokens: prompt(5, 5), maxNewTokens: 4 }).result;
  assert.deepEqual(later.tokens, fakeGreedy(prompt(5, 5), { maxNewTokens: 4 }));
});

test("the queue limit refuses a request, or a group that does not fit whole", async () => {
  const engine = createEngine(new FakeCausalLM(), { batchSize: 1, maxQueue: 2 });
  const queued = engine.submitAll([{ tokens: [1], maxNewTokens: 2 }, { tokens: [2], maxNewTokens: 2 }]);
  assert.throws(() => engine.submit({ tokens: [3], maxNewTokens: 2 }), (e: Error) => e instanceof QueueFullError && e.message === "the queue is full (2 requests waiting); retry later");
  assert.equal(engine.waiting, 2);
  await queued[0]!.result;
  // One admitted, one waiting: room for one, not two.
  assert.equal(engine.waiting, 1);
  assert.throws(() => engine.submitAll([{ tokens: [4], maxNewTokens: 2 }, { tokens: [5], maxNewTokens: 2 }]), QueueFullError);
  assert.equal(engine.waiting, 1);
  await engine.submit({ tokens: [6], maxNewTokens: 2 }).result;
});

test("an invalid request is refused at submit and queues nothing", () => {
  const engine = createEngine(new FakeCausalLM({ maxPositions: 32 }));
  const cases: [EngineRequest, string][] = [
    [{ tokens: [], maxNewTokens: 1 }, "request 0 has an empty prompt: it needs at least one token"],
    [{ tokens: [64], maxNewTokens: 1 }, "request 0: prompt token 64 is outside the model's vocabulary (64 ids)"],
    [{ tokens: [1], maxNewTokens: 0 }, "max_length (max new tokens) must be an integer >= 1, got 0"],
    [{ tokens: [1], maxNewTokens: 1, minP: -1 }, "min_p must be in [0, 1] (0 turns it off), got -1"],
    [{ tokens: [1], maxNewTokens: 1, logprobs: -1 }, "logprobs must be an integer >= 0 (the number of top tokens), got -1"],
    [{ tokens: [1], maxNewTokens: 1, stopStrings: ["a"] }, "stop strings need text: pass createTextStream along with stopStrings"],
    [{ tokens: Array(32).fill(1), maxNewTokens: 1 }, "request 0: its prompt of 32 tokens leaves no room for a new token in the model's 32 positions; truncate prompts (src_length) below 32"],
  ];
  for (const [request, message] of cases) assert.throws(() => engine.submit(request), { message });
  assert.equal(engine.waiting, 0);
  assert.throws(() => createEngine(new FakeCausalLM(), { maxQueue: -1 }), { message: "max_queue must be an integer >= 0, got -1" });
});

test("logprobs come with each token, from the model's row before penalties and filters", async () => {
  const tokens = prompt(3, 4);
  const events: EngineEvent[] = [];
  const engine = createEngine(new FakeCausalLM());
  const result = await engine.submit({ tokens, maxNewTokens: 5, logprobs: 3, repetitionPenalty: 2, onEvent: (e) => events.push(e) }).result;
  const history = [...tokens];
  result.tokens.forEach((token, i) => {
    const expected = tokenLogprobs(fakeLogits(history, 64), token, 3);
    assert.deepEqual(result.logprobs![i], expected);
    const event = events[i]!;
    assert.ok(event.type === "token" && event.logprobs !== undefined);
    assert.deepEqual(event.logprobs, expected);
    history.push(token);
  });
  assert.equal(result.logprobs!.length, result.tokens.length);
  const plain = await engine.submit({ tokens, maxNewTokens: 2 }).result;
  assert.equal(plain.logprobs, null);
});

test("a stop string split over tokens never reaches the stream, and held text is released when it does not match", async () => {
  const tokens = [3, 1, 4];
  const text = fakeText(fakeGreedy(tokens, { maxNewTokens: 30 }));
  const engine = createEngine(new FakeCausalLM(), { createTextStream: () => fakeTextStream() });
  const stop = text.slice(6, 9);
  const streamed: string[] = [];
  const result = await engine.submit({ tokens, maxNewTokens: 30, stopStrings: [stop, `${text.slice(2, 4)}#`], onEvent: (e) => streamed.push(e.text) }).result;
  assert.equal(result.finishReason, "stop");
  assert.equal(result.text, text.slice(0, text.indexOf(stop)));
  assert.equal(streamed.join(""), result.text);
  assert.ok(streamed.includes(""), "some text was held back");
});

test("a model failure fails the requests in flight; waiting requests run after it", async () => {
  const model = new FakeCausalLM({ failOnCall: 1 });
  const engine = createEngine(model, { batchSize: 2 });
  const [a, b, c] = engine.submitAll([0, 1, 2].map((r) => ({ tokens: prompt(r, 4), maxNewTokens: 6 })));
  for (const h of [a!, b!]) {
    await assert.rejects(h.result, (e: Error) => {
      assert.match(e.message, /^generation failed at step 1 \(requests in flight: 0, 1\): fake forward failure on call 1$/);
      return true;
    });
  }
  const last = await c!.result;
  assert.deepEqual(last.tokens, fakeGreedy(prompt(2, 4), { maxNewTokens: 6 }));
  await engine.idle();
  assert.deepEqual(model.liveIds(), []);
});

test("an onEvent that throws fails only its own request", async () => {
  const model = new FakeCausalLM();
  const engine = createEngine(model, { batchSize: 2 });
  const bad = engine.submit({ tokens: [1, 2], maxNewTokens: 9, onEvent: () => {
    throw new Error("socket closed");
  } });
  const good = engine.submit({ tokens: [3, 4], maxNewTokens: 9 });
  await assert.rejects(bad.result, /socket closed/);
  assert.equal((await good.result).tokens.length, 9);
  assert.deepEqual(model.liveIds(), []);
});

test("a request that can never fit the cache fails alone", async () => {
  const engine = createEngine(new FakeCausalLM({ capacity: 20 }), { batchSize: 2 });
  const big = engine.submit({ tokens: Array(30).fill(1), maxNewTokens: 2 });
  const small = engine.submit({ tokens: [1], maxNewTokens: 2 });
  await assert.rejects(big.result, /request 0 needs 32 cache positions \(30 prompt \+ 2 new tokens\)/);
  assert.equal((await small.result).finishReason, "length");
});

test("cacheUsage counts positions held against batchSize sequences of maxPositions", async () => {
  const model = new FakeCausalLM({ maxPositions: 100 });
  const engine = createEngine(model, { batchSize: 2 });
  const usage: number[] = [];
  await engine.submit({ tokens: Array(10).fill(1), maxNewTokens: 3, onEvent: (e) => e.type === "token" && usage.push(engine.cacheUsage) }).result;
  assert.deepEqual(usage, [10 / 200, 11 / 200, 12 / 200]);
  assert.equal(engine.cacheUsage, 0);
});

test("a request's own logits processors run after the built-in ones, and only for it", async () => {
  const engine = createEngine(new FakeCausalLM(), { batchSize: 2 });
  const onlyEven = (logits: Float32Array): void => {
    for (let i = 1; i < logits.length; i += 2) logits[i] = -Infinity;
  };
  const [masked, free] = await Promise.all([
    engine.submit({ tokens: [1, 2], maxNewTokens: 12, logitsProcessors: [onlyEven] }).result,
    engine.submit({ tokens: [1, 2], maxNewTokens: 12 }).result,
  ]);
  assert.ok(masked.tokens.every((token) => token % 2 === 0));
  assert.ok(free!.tokens.some((token) => token % 2 === 1));
});
