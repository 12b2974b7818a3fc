/**
 * The chat page (@oar/webui) on the server: GET / and the page's few files,
 * held in memory, each sent with the page's Content-Security-Policy. They
 * need no API key: the page asks for one when /v1/models answers 401.
 */
import { loadWebui } from "@oar/webui";
import type { FastifyInstance } from "fastify";

export function serveWebui(app: FastifyInstance): void {
  for (const asset of loadWebui()) {
    app.get(asset.route, async (_request, reply) => reply.headers(asset.headers).send(asset.body));
  }
}
