/**
 * Test support (the `@oar/webui/testing` entry, for this package's tests and
 * the server's browser test): Debian's Chromium driven by playwright-core,
 * with a fresh profile, and a watch over a page's console, errors, CSP
 * violations and requests.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** Where the browser is: $OAR_CHROMIUM, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  return process.env["OAR_CHROMIUM"] ?? "/usr/bin/chromium";
}

/**
 * The flags this machine needs: headless without a sandbox or GPU, and none
 * of Chromium's own traffic (background networking, component updates,
 * sync), which would otherwise open connections to the outside that a
 * sandboxed machine refuses, many at a time.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  readonly context: BrowserContext;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/** Starts Chromium with a new profile in the OS temp directory; fails with what to install when it is missing. */
export async function launchChromium(options: { readonly viewport?: { width: number; height: number } } = {}): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: the browser tests need Debian's Chromium (apt-get install -y chromium), or set OAR_CHROMIUM to a Chromium binary`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "oar-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS],
      viewport: options.viewport ?? { width: 1000, height: 760 },
      timeout: 30_000,
    });
  } catch (e) {
    fs.rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What a page did that a test checks: console errors, uncaught errors, CSP violations, and every URL it requested. */
export interface PageWatch {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly requests: string[];
}

/** Records `page`'s console errors, uncaught exceptions and requests from now on. */
export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { consoleErrors: [], pageErrors: [], requests: [] };
  page.on("console", (message) => {
    if (message.type() === "error") watch.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => watch.pageErrors.push(error.message));
  page.on("request", (request) => watch.requests.push(request.url()));
  return watch;
}

/** The requests of `watch` that left `origin` (data: and about: URLs excepted: they are not requests to anywhere). */
export function foreignRequests(watch: PageWatch, origin: string): string[] {
  return watch.requests.filter((url) => !url.startsWith(`${origin}/`) && url !== origin && !/^(data|about|blob):/.test(url));
}

/** Where tests put screenshots: $OAR_ARTIFACTS, else oar-test-artifacts in the OS temp directory (never in the repository). */
export function artifactsDir(): string {
  const dir = process.env["OAR_ARTIFACTS"] ?? path.join(os.tmpdir(), "oar-test-artifacts");
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
