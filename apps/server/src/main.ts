/**
 * oar-server: an OpenAI-compatible server over the continuous-batching engine.
 *
 *   oar-server --model_name_or_path DIR [--host 127.0.0.1] [--port 8011] [--batch_size 8] ...
 *
 * A mistake in the flags or the model directory prints one line and exits 1;
 * SIGTERM or SIGINT stops accepting, lets requests in flight finish (20 s at
 * most, then aborts them) and exits 0 within 30 s.
 */
import { failer, yargsError } from "@oar/cli";
import { serverCli, serverOptionsOf } from "./flags.js";
import { createServer } from "./server.js";

const fail: (error: unknown) => never = failer("oar-server");
/** The bound on a graceful stop. */
const EXIT_WITHIN_MS = 29_000;

let server;
try {
  // yargs prints --help itself and exits; every other outcome comes back here.
  const argv = serverCli(process.argv.slice(2))
    .fail((message, error) => fail(yargsError(message, error)))
    .parseSync();
  server = createServer(serverOptionsOf(argv, process.env));
} catch (e) {
  fail(e);
}

const { options } = server.oar;
let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  server.log.info({ signal }, "shutting down: refusing new requests, finishing those in flight");
  setTimeout(() => {
    server.log.warn("shutdown took too long; exiting");
    process.exit(0);
  }, EXIT_WITHIN_MS).unref();
  server.oar.shutdown().then(
    () => process.exit(0),
    (e: unknown) => {
      server.log.error({ err: e }, "shutdown failed");
      process.exit(0);
    },
  );
};
process.once("SIGTERM", () => stop("SIGTERM"));
process.once("SIGINT", () => stop("SIGINT"));

try {
  await server.listen({ host: options.host, port: options.port });
} catch (e) {
  fail(new Error(`cannot listen on ${options.host}:${options.port}: ${(e as Error).message}`));
}
try {
  await server.oar.loaded;
} catch (e) {
  await server.close();
  fail(e);
}
