// Makes the chat page's screenshot in the root README (docs/webui.png):
// oar-server on 127.0.0.1 with the trained qwen2-pystdlib-7m fixture (a code
// model without a chat template, so the page is in completion mode), greedy,
// two prompts, in Debian's Chromium. Run after `npm run build`:
//   node apps/server/scripts/webui-screenshot.js [OUT.png]
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { sharedFixturesDir } from "@oar/make-tiny-model";
import { launchChromium } from "@oar/webui/testing";
import { createServer } from "../dist/index.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const out = path.resolve(process.argv[2] ?? path.join(root, "docs", "webui.png"));
const fixtures = sharedFixturesDir();
if (fixtures === null) throw new Error("../shared/fixtures is missing beside the repository");

const server = createServer({ modelDir: path.join(fixtures, "qwen2-pystdlib-7m"), log: false });
await server.listen({ host: "127.0.0.1", port: 0 });
await server.oar.loaded;
const url = `http://127.0.0.1:${server.server.address().port}/`;
const browser = await launchChromium({ viewport: { width: 860, height: 760 } });
try {
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.evaluate(() => localStorage.setItem("oar.settings", JSON.stringify({ mode: null, systemPrompt: "", temperature: 0, topP: 1, maxTokens: 24 })));
  await page.reload();
  await page.locator("#model").getByText("completion mode").waitFor();
  for (const [i, prompt] of ["def fibonacci(n):\n", "import os\n\ndef list_files(path):\n"].entries()) {
    await page.locator("#input").fill(prompt);
    await page.locator("#input").press("Enter");
    await page.waitForFunction((n) => document.querySelectorAll("#log article.assistant[data-finish]").length === n, i + 1, { timeout: 60_000 });
  }
  await page.locator("#input").fill("class Stack:");
  await page.locator("#input").blur();
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`);
} finally {
  await browser.close();
  await server.oar.shutdown();
}
