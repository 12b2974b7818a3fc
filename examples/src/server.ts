/**
 * oar-server from a program: start the OpenAI-compatible server on a model
 * directory, then talk to it with the official `openai` client (a whole
 * answer, then a streamed one with its usage), and stop it.
 *
 *   node examples/dist/server.js [model-dir]
 *
 * The same client works against `npx oar-server --model_name_or_path DIR`:
 * point baseURL at http://127.0.0.1:8011/v1.
 */
import { cachedTinyModel } from "@oar/make-tiny-model";
import { createServer } from "@oar/server";
import OpenAI from "openai";

const modelDir = process.argv[2] || cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
const server = createServer({ modelDir, servedModelName: "demo", batchSize: 4, maxModelLen: 512, log: false });
await server.listen({ host: "127.0.0.1", port: 0 });
await server.oar.loaded;
const address = server.server.address();
const port = typeof address === "object" && address !== null ? address.port : 8011;

try {
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "not-needed" });
  const models = await client.models.list();
  console.log(`serving ${models.data.map((m) => m.id).join(", ")}`);

  const answer = await client.chat.completions.create({
    model: "demo",
    messages: [{ role: "user", content: "Name a prime number." }],
    max_tokens: 16,
    temperature: 0,
  });
  console.log(`answer: ${JSON.stringify(answer.choices[0]!.message.content)} (${answer.choices[0]!.finish_reason})`);

  process.stdout.write("streamed: ");
  const stream = await client.chat.completions.create({
    model: "demo",
    messages: [{ role: "user", content: "Say hello." }],
    max_tokens: 16,
    temperature: 0.7,
    seed: 1,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    process.stdout.write(chunk.choices[0]?.delta.content ?? "");
    if (chunk.usage) console.log(`\nusage: ${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens`);
  }
} finally {
  await server.oar.shutdown();
}
