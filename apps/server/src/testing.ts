/**
 * Test support, not exported from index.ts: a server on 127.0.0.1 and a free
 * port, started and stopped by the test, with its log lines collected; the
 * official client pointed at it; the tiny Qwen2-Instruct checkpoint; a
 * server-sent-event reader for raw streams.
 */
import * as path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { cachedTinyModel } from "@oar/make-tiny-model";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { createServer } from "./server.js";
import type { ServerOptions } from "./options.js";

export interface TestServer {
  readonly url: string;
  readonly server: FastifyInstance;
  readonly client: OpenAI;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** The tiny random Qwen2-Instruct checkpoint (chat template, <|im_end|> as EOS), made once per machine. */
export function tinyInstructModel(): string {
  return cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32", instruct: true });
}

/** apps/predictor/bin/predictor.js, for comparing outputs (the server does not depend on the predictor). */
export const PREDICTOR_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../predictor/bin/predictor.js");

/** apps/server/bin/oar-server.js */
export const SERVER_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../bin/oar-server.js");

/** Starts a server and waits for its model; stop() shuts it down. */
export async function startTestServer(options: Omit<ServerOptions, "log" | "port" | "host"> & { readonly apiKey?: string }): Promise<TestServer> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line !== "") logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const server = createServer({ ...options, log: { stream } });
  await server.listen({ host: "127.0.0.1", port: 0 });
  await server.oar.loaded;
  const address = server.server.address();
  if (address === null || typeof address === "string") throw new Error("the server has no TCP address");
  const url = `http://127.0.0.1:${address.port}`;
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: options.apiKey ?? "unused", maxRetries: 0, timeout: 60_000 });
  return { url, server, client, logs, stop: () => server.oar.shutdown() };
}

/** POSTs JSON (or raw text) and returns the status, headers and parsed body. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

/** The `data:` payloads of a whole event stream, in order, `[DONE]` as the string. */
export async function readEvents(response: Response): Promise<unknown[]> {
  const text = await response.text();
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("data: "))
    .map((block) => {
      const data = block.slice("data: ".length);
      return data === "[DONE]" ? data : (JSON.parse(data) as unknown);
    });
}

/** A metric's value in /metrics text: the first sample of `name`, or the first line starting with `name` when it holds labels. */
export async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name) && (name.includes("{") || l[name.length] === " " || l[name.length] === "{"));
  if (line === undefined) throw new Error(`no metric ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** Polls `check` every 20 ms until it holds, failing after `ms`. */
export async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
