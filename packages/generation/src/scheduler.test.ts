import { test } from "node:test";
import assert from "node:assert/strict";
import { generateBatch, type BatchOptions, type BatchRun, type GenerationRequest, type StreamEvent } from "./scheduler.js";
import { FakeCausalLM, fakeGreedy, fakeText, fakeTextStream } from "./testing/fake-causal-lm.js";

const EOS = [62, 63];
const PROMPT_LENGTHS = [1, 40, 3, 25, 7, 60, 2, 12, 33, 5];
const MAX_NEW = [30, 2, 17, 5, 40, 1, 9, 25, 3, 12];

/** Ten prompts of very different lengths and output budgets. */
const REQUESTS: GenerationRequest[] = PROMPT_LENGTHS.map((length, r) => ({
  tokens: Array.from({ length }, (_, i) => (r * 7 + i * 13) % 60),
  maxNewTokens: MAX_NEW[r]!,
}));

const GREEDY: BatchOptions = { maxNewTokens: 8, eosTokenIds: EOS };
const SAMPLING: BatchOptions = { ...GREEDY, decodeStrategy: "sampling", temperature: 0.9, topP: 0.9, seed: 1234 };

/** Asserts the step log's invariants and that every sequence was released once. */
function checkRun(run: BatchRun, requests: readonly GenerationRequest[], model: FakeCausalLM): void {
  const firstStep = new Map<number, number>();
  run.steps.forEach((step, s) => {
    assert.equal(step.slots.length, run.batchSize);
    if (step.queued > 0 && !step.blocked) {
      assert.ok(step.slots.every((slot) => slot !== null), `step ${s}: a slot is idle while ${step.queued} prompts wait`);
    }
    for (const slot of step.slots) if (slot !== null && !firstStep.has(slot.request)) firstStep.set(slot.request, s);
    const notStarted = requests.filter((_, r) => (firstStep.get(r) ?? Infinity) > s).length;
    assert.equal(step.queued, notStarted, `step ${s}: queue length`);
  });
  requests.forEach((request, r) => {
    const result = run.results[r]!;
    assert.equal(result.request, r);
    const entries = run.steps.flatMap((step, s) =>
      step.slots.flatMap((slot, at) => (slot?.request === r ? [{ s, at, slot }] : [])),
    );
    assert.ok(entries.length > 0, `request ${r} never ran`);
    // One slot, consecutive steps, prefill then decodes.
    assert.ok(entries.every((e) => e.at === entries[0]!.at), `request ${r} moved between slots`);
    entries.forEach((e, i) => assert.equal(e.s, entries[0]!.s + i, `request ${r} skipped a step`));
    assert.deepEqual(entries[0]!.slot, { request: r, phase: "prefill", tokens: request.tokens.length });
    assert.ok(entries.slice(1).every((e) => e.slot.phase === "decode" && e.slot.tokens === 1));
    const chosen = result.tokens.length + (result.finishReason === "eos" ? 1 : 0);
    assert.equal(entries.length, chosen, `request ${r}: one step per chosen token`);
  });
  // FIFO: requests start in input order.
  const starts = requests.map((_, r) => firstStep.get(r)!);
  for (let r = 1; r < starts.length; r++) assert.ok(starts[r]! >= starts[r - 1]!, "admission out of input order");
  assert.deepEqual([...model.released].sort((a, b) => a - b), Array.from({ length: model.created }, (_, i) => i));
  assert.equal(model.created, requests.length);
  assert.deepEqual(model.liveIds(), []);
}

test("greedy: each request's tokens in a batch equal the plain greedy loop's", async () => {
  const model = new FakeCausalLM();
  const run = await generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3 });
  checkRun(run, REQUESTS, model);
  REQUESTS.forEach((request, r) => {
    const expected = fakeGreedy(request.tokens, { maxNewTokens: request.maxNewTokens!, eosTokenIds: EOS });
    assert.deepEqual(run.results[r]!.tokens, expected, `request ${r}`);
  });
});

test("greedy and seeded sampling give the same tokens for every batch size", async () => {
  for (const options of [GREEDY, SAMPLING]) {
    const alone = await generateBatch(new FakeCausalLM(), REQUESTS, { ...options, batchSize: 1 });
    for (const batchSize of [2, 3, 10, 16]) {
      const model = new FakeCausalLM();
      const run = await generateBatch(model, REQUESTS, { ...options, batchSize });
      checkRun(run, REQUESTS, model);
      assert.deepEqual(
        run.results.map((r) => r.tokens),
        alone.results.map((r) => r.tokens),
        `${options.decodeStrategy ?? "greedy_search"}, batch size ${batchSize}`,
      );
    }
  }
});

test("sampling depends on the seed, and rngStream reproduces a request out of its batch", async () => {
  const all = await generateBatch(new FakeCausalLM(), REQUESTS, { ...SAMPLING, batchSize: 3 });
  const greedy = await generateBatch(new FakeCausalLM(), REQUESTS, { ...GREEDY, batchSize: 3 });
  assert.notDeepEqual(
    all.results.map((r) => r.tokens),
    greedy.results.map((r) => r.tokens),
  );
  const reseeded = await generateBatch(new FakeCausalLM(), REQUESTS, { ...SAMPLING, seed: 99, batchSize: 3 });
  assert.notDeepEqual(
    all.results.map((r) => r.tokens),
    reseeded.results.map((r) => r.tokens),
  );
  const tail = REQUESTS.slice(6).map((request, i) => ({ ...request, rngStream: 6 + i }));
  const resumed = await generateBatch(new FakeCausalLM(), tail, { ...SAMPLING, batchSize: 2 });
  assert.deepEqual(
    resumed.results.map((r) => r.tokens),
    all.results.slice(6).map((r) => r.tokens),
  );
});

test("with 3 slots and 10 prompts no slot idles while prompts wait, and slots refill the next step", async () => {
  const model = new FakeCausalLM();
  const run = await generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3 });
  checkRun(run, REQUESTS, model);
  assert.ok(run.steps.every((step) => !step.blocked));
  // Whenever a request finishes while others wait, its slot holds a new prefill at the next step.
  run.steps.forEach((step, s) => {
    const next = run.steps[s + 1];
    if (next === undefined || step.queued === 0) return;
    step.slots.forEach((slot, at) => {
      if (slot !== null && next.slots[at]?.request !== slot.request) {
        assert.equal(next.slots[at]?.phase, "prefill", `step ${s + 1} slot ${at}`);
      }
    });
  });
  // Far fewer steps than static batches of 3, each waiting for its longest sequence.
  const chosen = run.results.map((r) => r.tokens.length + (r.finishReason === "eos" ? 1 : 0));
  let lockStep = 0;
  for (let r = 0; r < chosen.length; r += 3) lockStep += Math.max(...chosen.slice(r, r + 3));
  assert.ok(run.steps.length < lockStep * 0.6, `${run.steps.length} steps, lock-step ${lockStep}`);
});

test("prefill runs in its own forward call, decode rows in another; finished sequences are never fed", async () => {
  const model = new FakeCausalLM();
  const run = await generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3 });
  let call = 0;
  for (const step of run.steps) {
    const prefill = step.slots.filter((slot) => slot?.phase === "prefill");
    const decode = step.slots.filter((slot) => slot?.phase === "decode");
    if (prefill.length > 0) {
      assert.deepEqual(model.calls[call]!.tokenCounts, prefill.map((slot) => slot!.tokens));
      call++;
    }
    if (decode.length > 0) {
      assert.deepEqual(model.calls[call]!.tokenCounts, decode.map(() => 1));
      call++;
    }
  }
  assert.equal(call, model.calls.length);
});

test("every eos id stops a sequence, and the eos token is not in the output", async () => {
  const favour = (tokens: readonly number[]): number | undefined =>
    tokens.length === 6 ? 63 : tokens.length === 9 ? 62 : undefined;
  const requests = [{ tokens: [5, 6, 7] }, { tokens: [8, 9, 10, 11] }, { tokens: [12] }];
  const events: StreamEvent[] = [];
  const run = await generateBatch(new FakeCausalLM({ favour }), requests, {
    maxNewTokens: 20,
    eosTokenIds: EOS,
    batchSize: 2,
    createTextStream: () => fakeTextStream(EOS),
    onStream: (event) => events.push(event),
  });
  assert.deepEqual(
    run.results.map((r) => [r.finishReason, r.tokens.length]),
    [
      ["eos", 3],
      ["eos", 2],
      ["eos", 5],
    ],
  );
  for (const result of run.results) {
    assert.ok(!result.tokens.some((id) => EOS.includes(id)));
    assert.equal(result.text, fakeText(result.tokens));
    const streamed = events.filter((e) => e.request === result.request);
    assert.deepEqual(
      streamed.flatMap((e) => (e.type === "token" ? [e.tokenId] : [])),
      result.tokens,
    );
    assert.equal(streamed.map((e) => e.text).join(""), result.text);
    assert.deepEqual(streamed.at(-1), { type: "end", request: result.request, text: streamed.at(-1)!.text, finishReason: "eos" });
  }
});

test("ignoreEos generates exactly max new tokens, eos ids included", async () => {
  const favour = (tokens: readonly number[]): number | undefined => (tokens.length % 3 === 0 ? 62 : undefined);
  const run = await generateBatch(new FakeCausalLM({ favour }), [{ tokens: [1, 2] }, { tokens: [4] }], {
    maxNewTokens: 7,
    eosTokenIds: EOS,
    ignoreEos: true,
    batchSize: 2,
  });
  for (const result of run.results) {
    assert.equal(result.finishReason, "length");
    assert.equal(result.tokens.length, 7);
    assert.ok(result.tokens.includes(62));
  }
});

test("max new tokens stops with reason length; maxNewTokens 1 finishes at prefill", async () => {
  const run = await generateBatch(new FakeCausalLM(), [{ tokens: [3, 4], maxNewTokens: 1 }, { tokens: [5] }], {
    maxNewTokens: 4,
    batchSize: 2,
  });
  assert.deepEqual(
    run.results.map((r) => [r.finishReason, r.tokens.length, r.maxNewTokens, r.clamped]),
    [
      ["length", 1, 1, false],
      ["length", 4, 4, false],
    ],
  );
  assert.deepEqual(run.steps[1]!.slots, [null, { request: 1, phase: "decode", tokens: 1 }]);
});

test("streamed text equals the result text, held-back characters flushed at the end", async () => {
  const events: StreamEvent[] = [];
  const results: number[] = [];
  const run = await generateBatch(new FakeCausalLM(), REQUESTS, {
    ...SAMPLING,
    batchSize: 4,
    createTextStream: () => fakeTextStream(),
    onStream: (event) => events.push(event),
    onResult: (result) => results.push(result.request),
  });
  assert.deepEqual([...results].sort((a, b) => a - b), REQUESTS.map((_, r) => r));
  assert.notDeepEqual(results, REQUESTS.map((_, r) => r), "results arrive in completion order");
  let sawLead = false;
  for (const result of run.results) {
    assert.equal(result.text, fakeText(result.tokens));
    const streamed = events.filter((e) => e.request === result.request);
    assert.equal(streamed.map((e) => e.text).join(""), result.text);
    sawLead ||= streamed.some((e) => e.type === "token" && e.text === "");
  }
  assert.ok(sawLead, "some token completed no text");
});

test("a stop string ends the sequence and the text before it", async () => {
  const prompt = [3, 1, 4];
  const free = fakeGreedy(prompt, { maxNewTokens: 12 });
  const text = fakeText(free);
  const stop = text.slice(4, 6);
  const events: StreamEvent[] = [];
  const run = await generateBatch(new FakeCausalLM(), [{ tokens: prompt }], {
    maxNewTokens: 12,
    stopStrings: [stop],
    createTextStream: () => fakeTextStream(),
    onStream: (event) => events.push(event),
  });
  const result = run.results[0]!;
  assert.equal(result.finishReason, "stop");
  assert.equal(result.text, text.slice(0, text.indexOf(stop)));
  assert.deepEqual(result.tokens, free.slice(0, result.tokens.length));
  assert.ok(result.tokens.length < free.length);
  assert.equal(events.map((e) => e.text).join(""), result.text);
});

test("max new tokens is clamped to fit maxPositions; a prompt that leaves no room is an error", async () => {
  const model = new FakeCausalLM({ maxPositions: 32, prefixLength: 4 });
  const run = await generateBatch(model, [{ tokens: Array(20).fill(3) }, { tokens: [1] }], { maxNewTokens: 10, batchSize: 2 });
  assert.deepEqual(
    run.results.map((r) => [r.maxNewTokens, r.clamped, r.tokens.length]),
    [
      [8, true, 8],
      [10, false, 10],
    ],
  );
  const callsBefore = model.calls.length;
  await assert.rejects(
    generateBatch(model, [{ tokens: [1] }, { tokens: Array(28).fill(3) }], { maxNewTokens: 10 }),
    {
      message:
        "request 1: its prompt of 28 tokens leaves no room for a new token after 4 prefix positions " +
        "in the model's 32 positions; truncate prompts (src_length) below 28",
    },
  );
  assert.equal(model.calls.length, callsBefore, "nothing ran");
});

test("canAllocate backpressure: prompts wait for memory, then run, with the same outputs", async () => {
  const reference = await generateBatch(new FakeCausalLM(), REQUESTS, { ...GREEDY, batchSize: 3 });
  for (const reserving of [false, true]) {
    const model = new FakeCausalLM({ capacity: 110, reserving });
    const run = await generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3 });
    checkRun(run, REQUESTS, model);
    assert.ok(model.peakReserved <= 110);
    assert.ok(run.steps.some((step) => step.blocked && step.slots.includes(null)), "some step waited for memory");
    assert.deepEqual(
      run.results.map((r) => r.tokens),
      reference.results.map((r) => r.tokens),
    );
  }
});

test("a prompt that can never fit the cache fails clearly instead of waiting forever", async () => {
  const model = new FakeCausalLM({ capacity: 50 });
  await assert.rejects(generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3 }), (error: Error) => {
    assert.match(error.message, /request 5 needs 61 cache positions \(60 prompt \+ 1 new tokens\)/);
    assert.match(error.message, /cannot allocate them even with no other sequence in flight/);
    return true;
  });
  assert.deepEqual(model.liveIds(), []);
  assert.equal(model.released.length, model.created);
});

test("a forward error rejects the run and releases every sequence once", async () => {
  for (const failOnCall of [0, 3, 7]) {
    const model = new FakeCausalLM({ failOnCall });
    const finished: number[] = [];
    await assert.rejects(
      generateBatch(model, REQUESTS, { ...GREEDY, batchSize: 3, onResult: (r) => finished.push(r.request) }),
      (error: Error) => {
        assert.match(error.message, /^generation failed at step \d+ \(requests in flight: [\d, ]+\): fake forward failure/);
        assert.equal((error.cause as Error).message, `fake forward failure on call ${failOnCall}`);
        return true;
      },
    );
    assert.deepEqual(model.liveIds(), []);
    assert.equal(new Set(model.released).size, model.created);
    assert.equal(model.released.length, model.created);
    assert.ok(finished.length < REQUESTS.length);
  }
});

test("an error thrown by a callback rejects the run and releases every sequence", async () => {
  const model = new FakeCausalLM();
  await assert.rejects(
    generateBatch(model, REQUESTS, {
      ...GREEDY,
      batchSize: 3,
      onResult: (r) => {
        if (r.request === 2) throw new Error("output file is gone");
      },
    }),
    /output file is gone/,
  );
  assert.deepEqual(model.liveIds(), []);
  assert.equal(model.released.length, model.created);
});

test("a model returning the wrong logits shape is reported", async () => {
  const model = new FakeCausalLM();
  const forward = model.forward.bind(model);
  model.forward = async (steps) => (await forward(steps)).map((row) => row.subarray(1));
  await assert.rejects(generateBatch(model, [{ tokens: [1] }], GREEDY), /model.forward returned 63 logits for request 0, expected 64/);
  assert.deepEqual(model.liveIds(), []);
});

test("options and prompts are validated before any forward call", async () => {
  const model = new FakeCausalLM();
  const cases: [BatchOptions, GenerationRequest[], string | RegExp][] = [
    [{ ...GREEDY, batchSize: 0 }, REQUESTS, "batch_size must be an integer >= 1, got 0"],
    [{ ...GREEDY, topP: 1.5 }, REQUESTS, "top_p must be in (0, 1], got 1.5"],
    [{ ...GREEDY, maxNewTokens: 0 }, REQUESTS, "max_length (max new tokens) must be an integer >= 1, got 0"],
    [GREEDY, [{ tokens: [] }], "request 0 has an empty prompt: it needs at least one token"],
    [GREEDY, [{ tokens: [1] }, { tokens: [64] }], "request 1: prompt token 64 is outside the model's vocabulary (64 ids)"],
    [{ ...GREEDY, eosTokenIds: [151645] }, REQUESTS, "eos token id 151645 is outside the model's vocabulary (64 ids)"],
    [{ ...GREEDY, stopStrings: ["x"] }, REQUESTS, "stop strings need text: pass createTextStream along with stopStrings"],
    [{ ...SAMPLING, seed: -1 }, REQUESTS, "seed must be a non-negative integer, got -1"],
  ];
  for (const [options, requests, message] of cases) {
    await assert.rejects(generateBatch(model, requests, options), typeof message === "string" ? { message } : message);
  }
  assert.equal(model.calls.length, 0);
  assert.equal(model.created, 0);
});

test("timings and the empty run", async () => {
  const run = await generateBatch(new FakeCausalLM(), REQUESTS, { ...GREEDY, batchSize: 3 });
  for (const result of run.results) {
    assert.ok(result.timing.queuedMs >= 0 && result.timing.prefillMs > 0 && result.timing.decodeMs >= 0);
    assert.equal(result.promptTokens, REQUESTS[result.request]!.tokens.length);
  }
  assert.ok(run.wallMs > 0);
  const empty = await generateBatch(new FakeCausalLM(), [], GREEDY);
  assert.deepEqual([empty.results, empty.steps], [[], []]);
});
