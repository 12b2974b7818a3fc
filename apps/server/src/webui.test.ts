/// <reference lib="dom" />
/**
 * The chat page: its routes and headers, and the page itself in Debian's
 * Chromium (playwright-core) against servers on 127.0.0.1 with tiny models:
 * a chat model (no API key) and a model without a chat template behind a key.
 * A screenshot of each width is left in the artifacts directory.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { cachedTinyModel } from "@oar/make-tiny-model";
import { WEBUI_CSP } from "@oar/webui";
import { artifactsDir, foreignRequests, launchChromium, watchPage, type Browser, type PageWatch } from "@oar/webui/testing";
import type { Page } from "playwright-core";
import { parseServerArgs } from "./flags.js";
import { resolveOptions } from "./options.js";
import { createServer } from "./server.js";
import { eventually, metric, startTestServer, tinyInstructModel, type TestServer } from "./testing.js";

const KEY = "sesame";
let chat: TestServer;
let plain: TestServer;
let browser: Browser;
// The browser starts while the models load.
before(async () => {
  [chat, plain, browser] = await Promise.all([
    startTestServer({ modelDir: tinyInstructModel(), servedModelName: "tiny-chat" }),
    startTestServer({ modelDir: cachedTinyModel({ arch: "qwen2", preset: "tiny", dtype: "f32" }), servedModelName: "tiny-base", apiKey: KEY, maxModelLen: 256 }),
    launchChromium(),
  ]);
});
after(async () => {
  await browser?.close();
  await Promise.all([chat?.stop(), plain?.stop()]);
});

describe("the chat page's routes", () => {
  it("GET / and its files come from the server with a strict CSP, and need no key", async () => {
    for (const [t, route, type] of [
      [chat, "/", "text/html"],
      [plain, "/", "text/html"],
      [chat, "/app.js", "text/javascript"],
      [chat, "/app.css", "text/css"],
      [chat, "/favicon.svg", "image/svg+xml"],
    ] as const) {
      const response = await fetch(`${t.url}${route}`);
      assert.equal(response.status, 200, route);
      assert.ok(response.headers.get("content-type")?.startsWith(type), `${route}: ${response.headers.get("content-type")}`);
      assert.equal(response.headers.get("content-security-policy"), WEBUI_CSP);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
    }
    assert.match(WEBUI_CSP, /default-src 'none'/);
    assert.doesNotMatch(WEBUI_CSP, /unsafe-|https?:|\*/, "no inline code, no other origin");
    const html = await (await fetch(`${chat.url}/`)).text();
    for (const script of html.match(/<script[^>]*>/g) ?? []) assert.match(script, /src="\/app\.js"/, "no inline script");
    assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=|<style|https?:\/\//i, "no inline style or handler, no other origin");
  });

  it("the model card says whether the model has a chat template", async () => {
    const card = async (t: TestServer, headers: Record<string, string> = {}): Promise<Record<string, unknown>> =>
      ((await (await fetch(`${t.url}/v1/models`, { headers })).json()) as { data: Record<string, unknown>[] }).data[0]!;
    assert.equal((await card(chat))["has_chat_template"], true);
    assert.equal((await card(plain, { authorization: `Bearer ${KEY}` }))["has_chat_template"], false);
  });

  it("--no_webui (or webui: false) leaves / unserved", async () => {
    assert.equal(parseServerArgs(["--no_webui"]).webui, false);
    assert.equal(parseServerArgs(["--no-webui"]).webui, false);
    assert.equal(parseServerArgs([]).webui, undefined);
    assert.equal(resolveOptions({ modelDir: tinyInstructModel() }).webui, true);
    const server = createServer({ modelDir: tinyInstructModel(), webui: false, log: false, maxModelLen: 64 });
    try {
      for (const route of ["/", "/app.js"]) {
        const response = await server.inject({ method: "GET", url: route });
        assert.equal(response.statusCode, 404, route);
        assert.equal(response.json<{ error: { code: string } }>().error.code, "not_found");
      }
    } finally {
      await server.oar.shutdown();
    }
  });
});

const HOSTILE = '<img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script>';
const HOSTILE_REPLY = `Here you are: ${HOSTILE}\n\n\`\`\`js\nconst x = "<script>window.pwned=3</script>";\n\`\`\`\n\n![pixel](http://127.0.0.2:9/p.png) [run](javascript:window.pwned=4)`;

describe("the chat page in Chromium", () => {
  /** Opens the page, watching what it does. */
  const open = async (t: TestServer): Promise<{ page: Page; watch: PageWatch }> => {
    const page = await browser.context.newPage();
    const watch = watchPage(page);
    const response = await page.goto(`${t.url}/`);
    assert.equal(response?.headers()["content-security-policy"], WEBUI_CSP);
    return { page, watch };
  };
  const replies = (page: Page) => page.locator("#log article.assistant");
  /** Waits until `count` replies have finished, and gives the last one's finish and stats line. */
  const finished = async (page: Page, count: number): Promise<{ finish: string; stats: string; text: string }> => {
    await page.waitForFunction((n) => document.querySelectorAll("#log article.assistant[data-finish]").length === n, count, { timeout: 20_000 });
    const last = replies(page).nth(count - 1);
    return { finish: (await last.getAttribute("data-finish")) ?? "", stats: await last.locator(".stats").innerText(), text: await last.locator(".body").innerText() };
  };
  /** Nothing of a hostile text became markup, nothing ran, nothing was fetched from it. */
  const assertInert = async (page: Page, watch: PageWatch, origin: string): Promise<void> => {
    assert.equal(await page.locator("#log img, #log script, #log iframe, #log svg, #log style, #log [onerror]").count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: unknown }).pwned), undefined, "a payload ran");
    assert.deepEqual(watch.requests.filter((url) => url === `${origin}/x` || url.includes("127.0.0.2")), [], "the payload's URLs were fetched");
  };

  it("chats: loads clean, Enter sends and Shift+Enter breaks the line, the reply streams, settings persist, Stop (and Escape) free the slot", async (t) => {
    const { page, watch } = await open(chat);
    await page.locator("#model").getByText("tiny-chat").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), "input", "the text box has focus");

    // Accessibility: every control has a label; keyboard focus is visible; the log is a polite live region.
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll("input, textarea, select")].filter((e) => (e as HTMLInputElement).labels?.length === 0).map((e) => e.id));
    assert.deepEqual(unlabelled, []);
    assert.equal(await page.locator("#log").getAttribute("role"), "log");
    assert.equal(await page.locator("#log").getAttribute("aria-live"), "polite");
    await page.keyboard.press("Tab");
    const focus = await page.evaluate(() => {
      const e = document.activeElement as HTMLElement;
      const style = getComputedStyle(e);
      return { id: e.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.deepEqual(focus, { id: "send", outline: "solid", width: 3 });

    // Settings by keyboard, kept in localStorage.
    await page.locator("#open-settings").focus();
    await page.keyboard.press("Enter");
    assert.equal(await page.locator("#settings").evaluate((d) => (d as HTMLDialogElement).open), true);
    await page.locator("#system-prompt").fill("You are terse.");
    await page.locator("#temperature").fill("0.7");
    await page.locator("#top-p").fill("0.9");
    await page.locator("#max-tokens").fill("24");
    await page.locator("#max-tokens").press("Enter");
    assert.equal(await page.locator("#settings").evaluate((d) => (d as HTMLDialogElement).open), false);
    assert.deepEqual(JSON.parse((await page.evaluate(() => localStorage.getItem("oar.settings")))!), { mode: null, systemPrompt: "You are terse.", temperature: 0.7, topP: 0.9, maxTokens: 24 });

    // Shift+Enter breaks the line, Enter sends; the reply streams in pieces.
    const input = page.locator("#input");
    await input.focus();
    await page.keyboard.type("Hello");
    await page.keyboard.press("Shift+Enter");
    await page.keyboard.type("there");
    assert.equal(await input.inputValue(), "Hello\nthere");
    assert.equal(await page.locator("#log article").count(), 0, "Shift+Enter sent nothing");
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      new MutationObserver(() => {
        const busy = document.querySelector('#log article.assistant[aria-busy="true"] .body');
        if (busy !== null && busy.textContent !== "") seen.push(busy.textContent ?? "");
      }).observe(document.getElementById("log")!, { childList: true, subtree: true, characterData: true });
    });
    const sent = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
    await page.keyboard.press("Enter");
    const body = (await sent).postDataJSON() as Record<string, unknown>;
    assert.equal(await input.inputValue(), "", "the text box is cleared");
    assert.deepEqual(body, {
      model: "tiny-chat",
      temperature: 0.7,
      top_p: 0.9,
      messages: [{ role: "system", content: "You are terse." }, { role: "user", content: "Hello\nthere" }],
      max_tokens: 24,
      stream: true,
      stream_options: { include_usage: true },
    });
    const first = await finished(page, 1);
    assert.equal(await page.locator("#log article.user .body").first().innerText(), "Hello\nthere");
    assert.match(first.stats, /^\d+ tokens · [\d.]+ tokens\/s · finish: (length|stop)$/);
    if (first.finish === "length") assert.match(first.stats, /^24 tokens/);
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    assert.ok(new Set(seen).size >= 2, `the reply was painted in pieces while streaming (${new Set(seen).size} states)`);

    // A user's hostile text is shown as it was typed; the history goes with the next message.
    const second = page.waitForRequest((r) => r.url().endsWith("/v1/chat/completions"));
    await input.fill(HOSTILE);
    await input.press("Enter");
    const messages = ((await second).postDataJSON() as { messages: { role: string }[] }).messages;
    assert.deepEqual(messages.map((m) => m.role), ["system", "user", "assistant", "user"]);
    assert.equal(await page.locator("#log article.user .body").nth(1).innerText(), HOSTILE);
    await finished(page, 2);
    await assertInert(page, watch, chat.url);

    // Stop: a reply with all the room (max tokens cleared) is aborted mid-stream, and the server frees the slot.
    await page.locator("#open-settings").click();
    await page.locator("#max-tokens").fill("");
    await page.locator("#settings button[value=save]").click();
    await input.fill("Tell me a long story.");
    await input.press("Enter");
    await page.waitForFunction(() => (document.querySelector('#log article.assistant[aria-busy="true"] .body')?.textContent ?? "") !== "");
    assert.equal(await metric(chat.url, "oar:num_requests_running"), 1);
    assert.equal(await page.locator("#stop").isEnabled(), true);
    await page.locator("#stop").click();
    const stopped = await finished(page, 3);
    assert.equal(stopped.finish, "aborted");
    assert.match(stopped.stats, /· stopped$/);
    await eventually("the slot is freed", async () => (await metric(chat.url, "oar:num_requests_running")) === 0, 5000);
    assert.equal(await metric(chat.url, 'oar:request_success_total{finished_reason="abort"'), 1);
    assert.equal(await page.locator("#stop").isDisabled(), true);
    assert.equal(await page.locator("#send").isEnabled(), true);
    // Escape in the text box stops a reply too.
    await input.fill("Another long one.");
    await input.press("Enter");
    await page.waitForFunction(() => (document.querySelector('#log article.assistant[aria-busy="true"] .body')?.textContent ?? "") !== "");
    await input.press("Escape");
    assert.equal((await finished(page, 4)).finish, "aborted");
    await eventually("the slot is freed", async () => (await metric(chat.url, "oar:num_requests_running")) === 0, 5000);

    // Screenshots (artifacts, not committed), and a phone-width window with nothing off-screen sideways.
    const dir = artifactsDir();
    await page.screenshot({ path: path.join(dir, "webui-chat.png") });
    await page.setViewportSize({ width: 390, height: 760 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "no horizontal scrolling at 390 px");
    for (const id of ["#send", "#stop", "#input", "#open-settings", "#new-chat"]) assert.ok(await page.locator(id).isVisible(), id);
    const send = await page.locator("#send").boundingBox();
    assert.ok(send !== null && send.x + send.width <= 390 && send.y + send.height <= 760, "Send is on screen");
    await page.screenshot({ path: path.join(dir, "webui-chat-phone.png") });
    t.diagnostic(`screenshots: ${path.join(dir, "webui-chat.png")}, ${path.join(dir, "webui-chat-phone.png")}`);

    // The conversation survives a reload.
    await page.reload();
    await page.locator("#model").getByText("tiny-chat").waitFor();
    assert.equal(await page.locator("#log article.user").count(), 4);
    assert.equal(await page.locator("#log article.assistant[data-finish]").count(), 4);

    assert.deepEqual(watch.consoleErrors, [], "no console errors (a CSP violation is one)");
    assert.deepEqual(watch.pageErrors, []);
    assert.deepEqual(foreignRequests(watch, chat.url), [], "nothing requested outside the server");
    await page.close();
  });

  it("a model reply with HTML and script is shown as text, and nothing runs", async () => {
    const { page, watch } = await open(chat);
    // A reply in the conversation the page keeps: rendered by the same path as a streamed one.
    await page.evaluate((reply) => {
      localStorage.setItem("oar.conversation", JSON.stringify([{ role: "user", mode: "chat", content: "Show me HTML." }, { role: "assistant", mode: "chat", content: reply, stats: { tokens: 9, tokensPerSecond: 3, finish: "stop" } }]));
    }, HOSTILE_REPLY);
    await page.reload();
    await page.locator("#model").getByText("tiny-chat").waitFor();
    const reply = replies(page).first();
    const text = await reply.locator(".body").innerText();
    assert.ok(text.includes(HOSTILE), text);
    assert.ok(text.includes('const x = "<script>window.pwned=3</script>";'), text);
    assert.equal(await reply.locator(".body pre > code").count(), 1, "the code block is a pre > code");
    assert.match(await reply.locator(".body pre").evaluate((e) => getComputedStyle(e).fontFamily), /monospace/);
    assert.deepEqual(await reply.locator(".body a").evaluateAll((links) => links.map((a) => a.getAttribute("href"))), ["http://127.0.0.2:9/p.png", null], "an image is a link; a javascript: link has no href");
    assert.equal(await reply.locator(".stats").innerText(), "9 tokens · 3.0 tokens/s · finish: stop");
    await page.waitForTimeout(100);
    await assertInert(page, watch, chat.url);

    // New chat clears the view and what was kept.
    await page.locator("#new-chat").click();
    assert.equal(await page.locator("#log article").count(), 0);
    assert.equal(await page.evaluate(() => localStorage.getItem("oar.conversation")), null);
    assert.deepEqual(watch.consoleErrors, []);
    assert.deepEqual(watch.pageErrors, []);
    assert.deepEqual(foreignRequests(watch, chat.url), []);
    await page.close();
  });

  it("a model without a chat template behind an API key: the page asks for the key, completes text, and shows the server's errors", async () => {
    const { page, watch } = await open(plain);
    await page.locator("#settings[open]").waitFor();
    assert.equal(await page.locator("#settings-notice").innerText(), "This server needs an API key.");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "api-key");
    await page.keyboard.type(KEY);
    await page.locator("#max-tokens").fill("12");
    await page.locator("#max-tokens").press("Enter");
    await page.locator("#model").getByText("tiny-base (no chat template: completion mode)").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("oar.apiKey")), KEY);
    assert.equal(await page.locator("#notice").isHidden(), true);

    const sent = page.waitForRequest((r) => r.url().endsWith("/v1/completions"));
    await page.locator("#input").fill("Once upon a time");
    await page.locator("#input").press("Enter");
    const request = await sent;
    assert.equal(request.headers()["authorization"], `Bearer ${KEY}`);
    assert.deepEqual(request.postDataJSON(), { model: "tiny-base", temperature: 0.8, top_p: 0.95, prompt: "Once upon a time", max_tokens: 12, stream: true, stream_options: { include_usage: true } });
    const done = await finished(page, 1);
    assert.match(done.stats, /^\d+ tokens · [\d.]+ tokens\/s · finish: (length|stop)$/);
    assert.equal(await replies(page).first().locator(".body.plain").count(), 1, "a completion is shown as plain text");
    assert.ok(done.text.length > 0);

    // A request the server refuses shows its error under the turn, which stays out of the kept conversation.
    await page.locator("#open-settings").click();
    await page.locator("#max-tokens").fill("1000");
    await page.locator("#max-tokens").press("Enter");
    await page.locator("#input").fill("Too long a reply");
    await page.locator("#input").press("Enter");
    const error = replies(page).nth(1).locator(".error[role=alert]");
    await error.waitFor();
    assert.match(await error.innerText(), /^Error: This model's maximum context length is 256 tokens\. However, you requested 100\d tokens/);
    assert.equal(await page.locator("#send").isEnabled(), true);
    assert.equal((JSON.parse((await page.evaluate(() => localStorage.getItem("oar.conversation")))!) as unknown[]).length, 2);

    // The only console errors are the browser's notes of the refused requests: the first 401, before the key was given, and the 400.
    assert.deepEqual(watch.consoleErrors, [
      "Failed to load resource: the server responded with a status of 401 (Unauthorized)",
      "Failed to load resource: the server responded with a status of 400 (Bad Request)",
    ]);
    assert.deepEqual(watch.pageErrors, []);
    assert.deepEqual(foreignRequests(watch, plain.url), []);
    await eventually("the slot is freed", async () => (await metric(plain.url, "oar:num_requests_running")) === 0, 5000);
    await page.close();
  });
});
