/// <reference lib="dom" />
/**
 * The page's render function and SSE reader, run in Chromium on a blank page
 * with no Content-Security-Policy: hostile markdown must come out as text or
 * inert markup by the sanitiser alone, with nothing run and nothing fetched.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import type { Page } from "playwright-core";
import { launchChromium, watchPage, type Browser, type PageWatch } from "./testing.js";

const PAGE_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/page");

/** render.ts and sse.ts bundled as one script that sets `window.oarPage`. */
async function pageModules(): Promise<string> {
  const result = await esbuild.build({
    stdin: { contents: 'export { renderMarkdown } from "./render.ts"; export { eventData } from "./sse.ts";', resolveDir: PAGE_SOURCE, loader: "ts" },
    bundle: true,
    format: "iife",
    globalName: "oarPage",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

interface Rendered {
  readonly html: string;
  readonly text: string;
  /** Tag names of every element rendered. */
  readonly tags: string[];
  /** name=value of every attribute rendered. */
  readonly attributes: string[];
  /** What the payloads set on window.pwned if they ran. */
  readonly pwned: unknown;
}

/** Renders `markdown` into the page, waits for anything it might have started, and reports what is there. */
async function render(page: Page, markdown: string): Promise<Rendered> {
  return page.evaluate(async (text) => {
    const w = window as unknown as { oarPage: { renderMarkdown(text: string): DocumentFragment }; pwned?: unknown };
    delete w.pwned;
    const box = document.createElement("div");
    box.append(w.oarPage.renderMarkdown(text));
    document.body.replaceChildren(box);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const elements = [...box.querySelectorAll("*")];
    return {
      html: box.innerHTML,
      text: box.textContent ?? "",
      tags: elements.map((e) => e.tagName.toLowerCase()),
      attributes: elements.flatMap((e) => [...e.attributes].map((a) => `${a.name}=${a.value}`)),
      pwned: w.pwned,
    };
  }, markdown);
}

const MARKDOWN_TAGS = new Set(["a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul"]);

/** Nothing ran, no tag outside markdown's, no event handler, no link but http(s) and mailto, nothing that loads. */
function assertInert(out: Rendered, input: string): void {
  assert.equal(out.pwned, undefined, `a payload ran for ${JSON.stringify(input)}`);
  for (const tag of out.tags) assert.ok(MARKDOWN_TAGS.has(tag), `<${tag}> rendered for ${JSON.stringify(input)}: ${out.html}`);
  for (const attribute of out.attributes) {
    const [name, ...rest] = attribute.split("=");
    const value = rest.join("=");
    assert.ok(["href", "title", "start", "align", "target", "rel"].includes(name!), `attribute ${attribute} rendered for ${JSON.stringify(input)}`);
    if (name === "href") assert.match(value, /^(https?:|mailto:)/i, `href ${value} rendered for ${JSON.stringify(input)}`);
  }
}

describe("renderMarkdown in Chromium", () => {
  let browser: Browser;
  let page: Page;
  let watch: PageWatch;

  before(async () => {
    const script = await pageModules();
    browser = await launchChromium();
    page = await browser.context.newPage();
    watch = watchPage(page);
    await page.goto("about:blank");
    await page.addScriptTag({ content: script });
  });
  after(async () => {
    await browser?.close();
  });

  it("shows raw HTML from a model as text, and runs none of it", async () => {
    const cases: [string, string][] = [
      ['<img src=x onerror="window.pwned=1">', '<img src=x onerror="window.pwned=1">'],
      ["<script>window.pwned=2</script>", "<script>window.pwned=2</script>"],
      ["Hello <script>window.pwned=3</script> world", "Hello <script>window.pwned=3</script> world"],
      ["<svg onload=window.pwned=4><circle r=1></svg>", "<svg onload=window.pwned=4><circle r=1></svg>"],
      ['<iframe src="javascript:window.pwned=5"></iframe>', '<iframe src="javascript:window.pwned=5"></iframe>'],
      ['<a href="javascript:window.pwned=6">x</a>', '<a href="javascript:window.pwned=6">x</a>'],
      ["<style>body{display:none}</style>", "<style>body{display:none}</style>"],
      ['<math><mtext><table><mglyph><style><img src=x onerror="window.pwned=7">', '<math><mtext><table><mglyph><style><img src=x onerror="window.pwned=7">'],
      ["<!-- a comment --><b>bold?</b>", "<!-- a comment --><b>bold?</b>"],
      ['<div onclick="window.pwned=8">\n\n**still markdown**\n\n</div>', '<div onclick="window.pwned=8"> still markdown </div>'],
    ];
    for (const [input, shown] of cases) {
      const out = await render(page, input);
      assertInert(out, input);
      assert.equal(out.text.replace(/\s+/g, " ").trim(), shown.replace(/\s+/g, " "), `text shown for ${JSON.stringify(input)}`);
    }
  });

  it("drops links a model could use to run script, and never loads an image", async () => {
    const cases = [
      "[click](javascript:window.pwned=1)",
      "[click](JaVaScRiPt:window.pwned=2)",
      "[click](java&#x09;script:window.pwned=3)",
      "[click](data:text/html;base64,PHNjcmlwdD53aW5kb3cucHduZWQ9NDwvc2NyaXB0Pg==)",
      "[ref][1]\n\n[1]: javascript:window.pwned=5",
      "<javascript:window.pwned=6>",
      "![pic](javascript:window.pwned=7)",
      "![tracking pixel](http://127.0.0.2:9/pixel.png)",
      '[x](http://a.example/ "title" onmouseover="window.pwned=8")',
      "[relative](/metrics)",
    ];
    for (const input of cases) assertInert(await render(page, input), input);
    const image = await render(page, "![tracking pixel](http://127.0.0.2:9/pixel.png)");
    assert.deepEqual(image.tags, ["p", "a"], "an image is a link");
    assert.equal(image.text.trim(), "tracking pixel");
    assert.deepEqual(watch.requests.filter((url) => url !== "about:blank"), [], "nothing was fetched");
  });

  it("renders markdown: code blocks monospaced as pre > code, emphasis, lists, tables, safe links", async () => {
    const out = await render(
      page,
      "# Title\n\nSome **bold** and `inline <b>code</b>`.\n\n```html\n<script>window.pwned=1</script>\n```\n\n- one\n- two\n\n| a | b |\n|---|:-:|\n| 1 | 2 |\n\n[docs](https://example.com/x)",
    );
    assertInert(out, "markdown");
    assert.deepEqual(out.tags, ["h1", "p", "strong", "code", "pre", "code", "ul", "li", "li", "table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td", "p", "a"]);
    assert.match(out.text, /inline <b>code<\/b>/);
    assert.match(out.text, /<script>window\.pwned=1<\/script>/);
    assert.ok(out.attributes.includes("href=https://example.com/x"));
    assert.ok(out.attributes.includes("target=_blank"));
    assert.ok(out.attributes.includes("rel=noopener noreferrer nofollow"));
    const mono = await page.evaluate(() => getComputedStyle(document.querySelector("pre")!).fontFamily);
    assert.match(mono, /monospace/, "a browser's own pre style is monospace");
  });

  it("renders a half-written reply (as streaming shows it) without leaking markup", async () => {
    const full = 'Look: <img src=x onerror="window.pwned=1"> and ```\ncode <script>window.pwned=2</script>\n```';
    for (let end = 1; end <= full.length; end += 4) assertInert(await render(page, full.slice(0, end)), full.slice(0, end));
  });

  it("reads server-sent events split anywhere, with CRLF, comments and multi-line data", async () => {
    const events = await page.evaluate(async () => {
      const w = window as unknown as { oarPage: { eventData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> } };
      const text = ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\ndata:{"b":"é"}\n\nevent: x\ndata: line1\ndata: line2\nid: 3\n\ndata: [DONE]\n\ndata: cut';
      const bytes = new TextEncoder().encode(text);
      const results: string[][] = [];
      for (const size of [1, 2, 3, 7, bytes.length]) {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += size) controller.enqueue(bytes.slice(i, i + size));
            controller.close();
          },
        });
        const got: string[] = [];
        for await (const data of w.oarPage.eventData(body)) got.push(data);
        results.push(got);
      }
      return results;
    });
    for (const got of events) assert.deepEqual(got, ['{"a":1}', '{"b":"é"}', "line1\nline2", "[DONE]"]);
  });

  it("ran with no console error", () => {
    assert.deepEqual(watch.consoleErrors, []);
    assert.deepEqual(watch.pageErrors, []);
  });
});
