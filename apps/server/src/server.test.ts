/**
 * The server in dynamic mode on the tiny Qwen2-Instruct checkpoint, driven by
 * the official `openai` client and by raw HTTP: object shapes, streaming,
 * usage, stop strings, seeds, logprobs, concurrency, disconnects, errors,
 * metrics and the log.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { Completion } from "openai/resources/completions";
import { eventually, metric, post, startTestServer, tinyInstructModel, type TestServer } from "./testing.js";

let t: TestServer;
let model: string;

before(async () => {
  t = await startTestServer({ modelDir: tinyInstructModel(), servedModelName: "tiny", batchSize: 4, maxModelLen: 256 });
  model = "tiny";
});
after(() => t.stop());

const PROMPTS = ["Give three tips for staying healthy.", "解释一下“温故而知新”", "Write a haiku about the sea.", "What is 2 + 2?", "Name a river.", "Say hello.", "目前全世界的经济", "Why is the sky blue?"];

async function greedyChat(content: string, maxTokens = 12): Promise<string> {
  const r = await t.client.chat.completions.create({ model, messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0 });
  return r.choices[0]!.message.content ?? "";
}

describe("oar-server, dynamic mode", () => {
  it("lists the served model with its max_model_len, and answers /health", async () => {
    const list = await t.client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ["tiny"]);
    assert.equal((list.data[0] as unknown as { max_model_len: number }).max_model_len, 256);
    assert.equal((await t.client.models.retrieve("tiny")).id, "tiny");
    const health = await fetch(`${t.url}/health`);
    assert.deepEqual([health.status, await health.json()], [200, { status: "ok" }]);
  });

  it("chat: the stream has one id, the role first, one finish chunk, and concatenates to the whole answer; usage is exact and equal", async () => {
    const messages = [{ role: "system" as const, content: "You are terse." }, { role: "user" as const, content: PROMPTS[0]! }];
    const whole = await t.client.chat.completions.create({ model, messages, max_tokens: 10, temperature: 0 });
    assert.equal(whole.object, "chat.completion");
    assert.match(whole.id, /^chatcmpl-/);
    assert.equal(whole.choices.length, 1);
    assert.equal(whole.choices[0]!.message.role, "assistant");
    assert.equal(whole.choices[0]!.finish_reason, "length");
    const tokenized = await post(`${t.url}/tokenize`, { model, messages });
    assert.equal(whole.usage!.prompt_tokens, tokenized.json["count"], "prompt_tokens counts the templated prompt");
    assert.deepEqual(whole.usage, { prompt_tokens: tokenized.json["count"], completion_tokens: 10, total_tokens: (tokenized.json["count"] as number) + 10, prompt_tokens_details: { cached_tokens: 0 } });

    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of await t.client.chat.completions.create({ model, messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, "one id on every chunk");
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "tiny"));
    assert.equal(chunks[0]!.choices[0]!.delta.role, "assistant");
    assert.ok(chunks.slice(1).every((c) => c.choices.every((choice) => choice.delta.role === undefined)));
    const finishing = chunks.filter((c) => c.choices.some((choice) => choice.finish_reason !== null));
    assert.equal(finishing.length, 1);
    assert.equal(finishing[0]!.choices[0]!.finish_reason, "length");
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, [], "the usage chunk has no choices");
    assert.deepEqual(last.usage, whole.usage);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    assert.equal(text, whole.choices[0]!.message.content);

    const plain: ChatCompletionChunk[] = [];
    for await (const chunk of await t.client.chat.completions.create({ model, messages, max_tokens: 3, temperature: 0, stream: true })) plain.push(chunk);
    assert.ok(plain.every((c) => c.usage === undefined && c.choices.length === 1), "no usage chunk without include_usage");
  });

  it("completions: text, token-id and several prompts; the stream equals the whole response; finish_reason length at exactly max_tokens", async () => {
    const whole = await t.client.completions.create({ model, prompt: "Once upon a time", max_tokens: 7, temperature: 0 });
    assert.equal(whole.object, "text_completion");
    assert.match(whole.id, /^cmpl-/);
    assert.equal(whole.choices[0]!.finish_reason, "length");
    assert.equal(whole.usage!.completion_tokens, 7);
    const ids = (await post(`${t.url}/tokenize`, { prompt: "Once upon a time" })).json["tokens"] as number[];
    assert.equal(whole.usage!.prompt_tokens, ids.length);
    const byIds = await t.client.completions.create({ model, prompt: ids, max_tokens: 7, temperature: 0 });
    assert.equal(byIds.choices[0]!.text, whole.choices[0]!.text);

    const chunks: Completion[] = [];
    for await (const chunk of await t.client.completions.create({ model, prompt: "Once upon a time", max_tokens: 7, temperature: 0, stream: true, stream_options: { include_usage: true } })) chunks.push(chunk);
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? "").join(""), whole.choices[0]!.text);
    assert.equal(chunks.filter((c) => c.choices.some((choice) => choice.finish_reason !== null)).length, 1);
    assert.deepEqual(chunks.at(-1)!.usage, whole.usage);

    const two = await t.client.completions.create({ model, prompt: ["Once upon a time", "The river"], max_tokens: 4, temperature: 0, n: 2 });
    assert.deepEqual(two.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.equal(two.choices[0]!.text, two.choices[1]!.text, "greedy choices agree");
    assert.ok(two.choices[0]!.text.startsWith(whole.choices[0]!.text.slice(0, 1)));
    assert.equal(two.usage!.completion_tokens, 16);
  });

  it("stop strings end the text before them, in the stream too, with finish_reason stop", async () => {
    const free = await greedyChat(PROMPTS[2]!, 24);
    const chars = [...free];
    assert.ok(chars.length >= 8, `a greedy answer long enough to cut: ${JSON.stringify(free)}`);
    const stop = chars.slice(5, 7).join("");
    const expected = free.slice(0, free.indexOf(stop));
    const whole = await t.client.chat.completions.create({ model, messages: [{ role: "user", content: PROMPTS[2]! }], max_tokens: 24, temperature: 0, stop: [stop, "\u0000never"] });
    assert.equal(whole.choices[0]!.finish_reason, "stop");
    assert.equal(whole.choices[0]!.message.content, expected);
    let streamed = "";
    let reason: string | null = null;
    for await (const chunk of await t.client.chat.completions.create({ model, messages: [{ role: "user", content: PROMPTS[2]! }], max_tokens: 24, temperature: 0, stop, stream: true })) {
      streamed += chunk.choices[0]?.delta.content ?? "";
      reason = chunk.choices[0]?.finish_reason ?? reason;
    }
    assert.equal(streamed, expected);
    assert.equal(reason, "stop");
  });

  it("a seed reproduces sampled output; n choices differ; another seed samples otherwise", async () => {
    const ask = (seed: number) => t.client.chat.completions.create({ model, messages: [{ role: "user", content: PROMPTS[4]! }], max_tokens: 12, temperature: 1, top_p: 0.95, seed, n: 2 });
    const a = await ask(11);
    const b = await ask(11);
    const c = await ask(12);
    const texts = (r: typeof a): string[] => r.choices.map((choice) => choice.message.content ?? "");
    assert.deepEqual(texts(a), texts(b));
    assert.notEqual(texts(a)[0], texts(a)[1]);
    assert.notDeepEqual(texts(a), texts(c));
  });

  it("logprobs and top_logprobs come per token, in chat's and completions' layouts", async () => {
    const chat = await t.client.chat.completions.create({ model, messages: [{ role: "user", content: PROMPTS[3]! }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = chat.choices[0]!.logprobs!.content!;
    assert.equal(content.length, 5);
    for (const entry of content) {
      assert.equal(entry.top_logprobs.length, 3);
      assert.ok(entry.logprob <= 0);
      // Greedy picks the most likely token.
      assert.equal(entry.logprob, entry.top_logprobs[0]!.logprob);
      assert.deepEqual(entry.bytes, [...Buffer.from(entry.token, "utf8")]);
    }
    const completion = await t.client.completions.create({ model, prompt: "Hello", max_tokens: 4, temperature: 0, logprobs: 2 });
    const lp = completion.choices[0]!.logprobs!;
    assert.equal(lp.tokens!.length, 4);
    assert.equal(lp.token_logprobs!.length, 4);
    assert.equal(Object.keys(lp.top_logprobs![0]!).length <= 2, true);
    assert.equal(lp.text_offset![0], 0);
  });

  it("8 concurrent greedy requests equal the same requests one at a time, bit for bit", async () => {
    const alone: string[] = [];
    for (const p of PROMPTS) alone.push(await greedyChat(p, 16));
    const together = await Promise.all(PROMPTS.map((p) => greedyChat(p, 16)));
    assert.deepEqual(together, alone);
    const streamedTogether = await Promise.all(
      PROMPTS.map(async (p) => {
        let text = "";
        for await (const c of await t.client.chat.completions.create({ model, messages: [{ role: "user", content: p }], max_tokens: 16, temperature: 0, stream: true })) text += c.choices[0]?.delta.content ?? "";
        return text;
      }),
    );
    assert.deepEqual(streamedTogether, alone);
  });

  it("a client that disconnects (streaming or not, running or queued) is aborted and its slot freed", async () => {
    const body = (stream: boolean) => JSON.stringify({ model, prompt: "Tell me a long story", max_tokens: 200, ignore_eos: true, stream });
    const controllers = Array.from({ length: 6 }, () => new AbortController());
    // 6 requests on 4 slots: 2 wait in the queue.
    const pending = controllers.map((c, i) =>
      fetch(`${t.url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(i % 2 === 0), signal: c.signal }).then(
        async (r) => (i % 2 === 0 ? r.body?.getReader().read() : r.json()),
        () => undefined,
      ),
    );
    await eventually("four requests run and two wait", async () => (await metric(t.url, "oar:num_requests_running")) === 4 && (await metric(t.url, "oar:num_requests_waiting")) === 2);
    for (const c of controllers) c.abort();
    await Promise.allSettled(pending);
    await eventually("every request is freed", async () => (await metric(t.url, "oar:num_requests_running")) === 0 && (await metric(t.url, "oar:num_requests_waiting")) === 0);
    assert.equal(await metric(t.url, "oar:kv_cache_usage_perc"), 0);
    assert.ok((await metric(t.url, 'oar:request_success_total{finished_reason="abort"')) >= 6);
    assert.equal((await greedyChat(PROMPTS[5]!, 3)).length > 0, true, "the server still answers");
  });

  it("answers a table of bad requests with the right status and OpenAI's error object, and keeps answering", async () => {
    const chat = `${t.url}/v1/chat/completions`;
    const completions = `${t.url}/v1/completions`;
    const user = [{ role: "user", content: "hi" }];
    const cases: { what: string; url: string; body: unknown; status: number; param: string | null; code?: string; message?: RegExp }[] = [
      { what: "malformed JSON", url: chat, body: '{"messages": [', status: 400, param: null, message: /could not parse the JSON body/ },
      { what: "body not an object", url: chat, body: "[1, 2]", status: 400, param: null },
      { what: "no messages", url: chat, body: { model }, status: 400, param: "messages", code: "missing_required_parameter" },
      { what: "empty messages", url: chat, body: { messages: [] }, status: 400, param: "messages" },
      { what: "message without a role", url: chat, body: { messages: [{ content: "hi" }] }, status: 400, param: "messages[0].role" },
      { what: "unknown role", url: chat, body: { messages: [{ role: "wizard", content: "hi" }] }, status: 400, param: "messages[0].role" },
      { what: "content of a wrong type", url: chat, body: { messages: [{ role: "user", content: 5 }] }, status: 400, param: "messages[0].content" },
      { what: "temperature above 2", url: chat, body: { messages: user, temperature: 2.5 }, status: 400, param: "temperature", message: /must be <= 2/ },
      { what: "temperature as a string", url: chat, body: { messages: user, temperature: "hot" }, status: 400, param: "temperature", message: /must be number/ },
      { what: "top_p of 0", url: chat, body: { messages: user, top_p: 0 }, status: 400, param: "top_p" },
      { what: "top_p above 1", url: completions, body: { prompt: "a", top_p: 1.5 }, status: 400, param: "top_p" },
      { what: "max_tokens 0", url: completions, body: { prompt: "a", max_tokens: 0 }, status: 400, param: "max_tokens" },
      { what: "max_tokens not an integer", url: completions, body: { prompt: "a", max_tokens: 2.5 }, status: 400, param: "max_tokens" },
      { what: "n 0", url: chat, body: { messages: user, n: 0 }, status: 400, param: "n" },
      { what: "five stop strings", url: chat, body: { messages: user, stop: ["a", "b", "c", "d", "e"] }, status: 400, param: "stop" },
      { what: "an empty stop string", url: chat, body: { messages: user, stop: "" }, status: 400, param: "stop" },
      { what: "top_logprobs without logprobs", url: chat, body: { messages: user, top_logprobs: 2 }, status: 400, param: "top_logprobs" },
      { what: "stream_options without stream", url: chat, body: { messages: user, stream_options: { include_usage: true } }, status: 400, param: "stream_options" },
      { what: "presence_penalty out of range", url: chat, body: { messages: user, presence_penalty: 3 }, status: 400, param: "presence_penalty" },
      { what: "a negative seed", url: chat, body: { messages: user, seed: -1 }, status: 400, param: "seed" },
      { what: "no prompt", url: completions, body: { max_tokens: 3 }, status: 400, param: "prompt" },
      { what: "a prompt of objects", url: completions, body: { prompt: [{ a: 1 }] }, status: 400, param: "prompt" },
      { what: "a token id outside the vocabulary", url: completions, body: { prompt: [1, 99999999] }, status: 400, param: "prompt" },
      { what: "an unknown model", url: chat, body: { model: "gpt-9", messages: user }, status: 404, param: "model", code: "model_not_found" },
      { what: "an unknown route", url: `${t.url}/v1/embeddings`, body: { input: "a" }, status: 404, param: null },
      {
        what: "a prompt over max_model_len",
        url: completions,
        body: { prompt: Array(300).fill(5), max_tokens: 1 },
        status: 400,
        param: "prompt",
        code: "context_length_exceeded",
        message: /maximum context length is 256 tokens\. However, you requested 301 tokens \(300 in the prompt, 1 in the completion\)/,
      },
      {
        what: "prompt plus max_tokens over max_model_len",
        url: chat,
        body: { messages: user, max_tokens: 250 },
        status: 400,
        param: "messages",
        code: "context_length_exceeded",
        message: /maximum context length is 256 tokens\. However, you requested \d+ tokens \(\d+ in the messages, 250 in the completion\)/,
      },
    ];
    assert.ok(cases.length >= 15);
    for (const c of cases) {
      const r = await post(c.url, c.body);
      assert.equal(r.status, c.status, `${c.what}: ${JSON.stringify(r.json)}`);
      const error = r.json["error"] as Record<string, unknown>;
      assert.deepEqual(Object.keys(error).sort(), ["code", "message", "param", "type"], c.what);
      assert.equal(typeof error["message"], "string");
      assert.equal(error["type"], "invalid_request_error", c.what);
      assert.equal(error["param"], c.param, `${c.what}: ${String(error["message"])}`);
      if (c.code !== undefined) assert.equal(error["code"], c.code, c.what);
      if (c.message !== undefined) assert.match(String(error["message"]), c.message, c.what);
    }
    assert.equal(await metric(t.url, "oar:num_requests_running"), 0);
    assert.ok((await greedyChat("Still there?", 2)).length > 0);
  });

  it("ignores unknown fields, logs them, and logs one line per finished request", async () => {
    const before = t.logs.length;
    const r = await post(`${t.url}/v1/chat/completions`, { model, messages: [{ role: "user", content: "hi" }], max_tokens: 2, frobnicate: true, logit_bias: {} });
    assert.equal(r.status, 200);
    const lines = t.logs.slice(before);
    assert.ok(lines.some((l) => l["msg"] === "ignored unknown request fields" && JSON.stringify(l["fields"]) === JSON.stringify(["frobnicate", "logit_bias"])));
    const finished = lines.filter((l) => l["msg"] === "request finished");
    assert.equal(finished.length, 1);
    const usage = r.json["usage"] as Record<string, number>;
    assert.equal(finished[0]!["request_id"], r.json["id"]);
    assert.equal(finished[0]!["prompt_tokens"], usage["prompt_tokens"]);
    assert.equal(finished[0]!["completion_tokens"], usage["completion_tokens"]);
    assert.equal(finished[0]!["cached_tokens"], 0);
    assert.equal(finished[0]!["finish_reason"], "length");
    assert.ok((finished[0]!["ttft_s"] as number) > 0 && (finished[0]!["duration_s"] as number) >= (finished[0]!["ttft_s"] as number));
  });

  it("exposes vLLM's metrics under oar:, and tokenizes and detokenizes", async () => {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    for (const name of ["num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "prompt_tokens_total", "generation_tokens_total", "prefix_cache_queries_total", "prefix_cache_hits_total"]) {
      assert.match(text, new RegExp(`^oar:${name}\\{model_name="tiny"\\} \\d`, "m"), name);
    }
    for (const name of ["time_to_first_token_seconds", "inter_token_latency_seconds", "e2e_request_latency_seconds", "request_queue_time_seconds"]) {
      assert.match(text, new RegExp(`^oar:${name}_count\\{model_name="tiny"\\} [1-9]`, "m"), name);
    }
    assert.match(text, /^oar:request_success_total\{finished_reason="length",model_name="tiny"\} [1-9]/m);
    assert.match(text, /^process_cpu_user_seconds_total/m, "Node's default metrics");
    assert.ok((await metric(t.url, "oar:generation_tokens_total")) > 0);
    const ids = (await post(`${t.url}/tokenize`, { prompt: "Hello, world" })).json;
    assert.equal(ids["max_model_len"], 256);
    assert.deepEqual((await post(`${t.url}/detokenize`, { tokens: ids["tokens"] })).json, { prompt: "Hello, world" });
  });
});
