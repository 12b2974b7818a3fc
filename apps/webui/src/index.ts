/**
 * @oar/webui: the chat page oar-server serves at `/`. The page is built by
 * `npm run build` (esbuild) into dist/page; this module hands a server its
 * files and the headers they must be served with.
 *
 * ```ts
 * import { loadWebui } from "@oar/webui";
 * for (const asset of loadWebui()) app.get(asset.route, (_req, reply) => reply.headers(asset.headers).send(asset.body));
 * ```
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The page's Content-Security-Policy: its own script, style and icon, calls
 * to its own origin only, and nothing inline, framed, or from elsewhere.
 * DOM writes of HTML must go through a Trusted Types policy (DOMPurify's).
 */
export const WEBUI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types dompurify",
].join("; ");

/** One file of the page, ready to send. */
export interface WebuiAsset {
  /** The URL path it answers, e.g. "/" or "/app.js". */
  readonly route: string;
  readonly body: Buffer;
  /** content-type, the CSP and the other security headers, cache-control. */
  readonly headers: Readonly<Record<string, string>>;
}

/** The built page: dist/page beside this module. */
export const WEBUI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "page");

const FILES: readonly { file: string; route: string; type: string }[] = [
  { file: "index.html", route: "/", type: "text/html; charset=utf-8" },
  { file: "app.js", route: "/app.js", type: "text/javascript; charset=utf-8" },
  { file: "app.css", route: "/app.css", type: "text/css; charset=utf-8" },
  { file: "favicon.svg", route: "/favicon.svg", type: "image/svg+xml" },
];

/** Reads the built page (a few files, held in memory); throws naming the missing file when it was not built. */
export function loadWebui(dir: string = WEBUI_DIR): WebuiAsset[] {
  return FILES.map(({ file, route, type }) => {
    const where = path.join(dir, file);
    let body: Buffer;
    try {
      body = fs.readFileSync(where);
    } catch (e) {
      throw new Error(`the chat page is not built: cannot read ${where} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run npm run build`);
    }
    return {
      route,
      body,
      headers: {
        "content-type": type,
        "content-security-policy": WEBUI_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        // Small files that change with the server: always revalidate.
        "cache-control": "no-cache",
      },
    };
  });
}
